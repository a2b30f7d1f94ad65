import Foundation
import Testing
import TestSupport

import Glibc

/// The fault matrix, local side (issue 5, docs/reliability.md): the site file, the disk and the check
/// and reload commands misbehave while api-gateway's ClusterIP changes. The resync fails, nothing live
/// is made worse, and the daemon converges with one reload once the fault is cleared.
@Suite("FaultMatrix: site file, disk and command faults")
struct FaultLocalTests {
    @Test("site file deleted: resync fails, no file is invented; converges once it is back")
    func siteDeleted() async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            let old = world.siteText
            try FileManager.default.removeItem(atPath: world.nginx.siteTarget)
            let mark = daemon.lines.count
            try world.recreate()
            let failed = daemon.waitForLine(from: mark, where: { $0.contains("resync failed") })
            #expect(failed != nil, "\(daemon.log)")
            #expect(!FileManager.default.fileExists(atPath: world.nginx.siteTarget))
            #expect(world.reloadsOK == 0)
            try world.dir.write("restore", old)
            try FileManager.default.moveItem(atPath: world.dir.file("restore"), toPath: world.nginx.siteTarget)
            #expect(world.converges(reloads: 1, timeout: 30), "\(daemon.log)")
            world.finish(daemon, fault: "site file deleted: \(failed ?? "no failure logged")")
        }
    }

    /// Root ignores the mode bits, and the swap is a rename in the directory anyway: the change goes
    /// through and the file keeps its mode 0444.
    @Test("site file made read-only (0444): written anyway by rename as root, mode kept")
    func siteReadOnly() async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            #expect(chmod(world.nginx.siteTarget, 0o444) == 0)
            try world.recreate()
            #expect(world.converges(reloads: 1), "\(daemon.log)")
            let mode = try FileManager.default.attributesOfItem(atPath: world.nginx.siteTarget)[.posixPermissions] as? Int
            #expect(mode == 0o444)
            #expect(world.reloadsOK == 1)
            world.finish(daemon, fault: "site file 0444")
        }
    }

    @Test("site file replaced by a directory: resync fails, the directory is left alone; converges once the file is back")
    func siteReplacedByDirectory() async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            let old = world.siteText
            let target = world.nginx.siteTarget
            try FileManager.default.removeItem(atPath: target)
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
            try Data("keep\n".utf8).write(to: URL(fileURLWithPath: target + "/keep"))
            let mark = daemon.lines.count
            try world.recreate()
            let failed = daemon.waitForLine(from: mark, where: { $0.contains("resync failed") })
            #expect(failed != nil, "\(daemon.log)")
            usleep(500_000)
            #expect(FileManager.default.contents(atPath: target + "/keep") == Data("keep\n".utf8))
            #expect(world.reloadsOK == 0)
            try FileManager.default.removeItem(atPath: target)
            try world.dir.write("restore", old)
            try FileManager.default.moveItem(atPath: world.dir.file("restore"), toPath: target)
            #expect(world.converges(reloads: 1, timeout: 30), "\(daemon.log)")
            world.finish(daemon, fault: "site file replaced by a directory: \(failed ?? "no failure logged")")
        }
    }

    /// The site's directory becomes a full 16 KiB tmpfs: the staged candidate cannot be written.
    @Test("disk full while writing (a full tmpfs): live file unchanged; converges once space is freed",
          .enabled(if: FaultWorld.canMountTmpfs, "needs root allowed to mount a tmpfs"))
    func diskFull() async throws {
        try await blocking {
            let world = try FaultWorld()
            let directory = world.nginx.dir.file("sites-available")
            let old = world.siteText
            let mounted = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", directory])
            try #require(mounted.status == 0, "mount: \(mounted.stderr)")
            defer { _ = try? runProcess("/bin/umount", ["-l", directory]) }
            try Data(old.utf8).write(to: URL(fileURLWithPath: world.nginx.siteTarget))
            let daemon = try world.startDaemon()
            // Fill it: dd stops at ENOSPC.
            let filler = directory + "/filler"
            _ = try runProcess("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=4k"])
            let mark = daemon.lines.count
            try world.recreate()
            let failed = daemon.waitForLine(from: mark, where: { $0.contains("resync failed") })
            #expect(failed != nil, "\(daemon.log)")
            #expect(world.siteText == old)
            #expect(world.reloadsOK == 0)
            try FileManager.default.removeItem(atPath: filler)
            #expect(world.converges(reloads: 1, timeout: 30), "\(daemon.log)")
            world.finish(daemon, fault: "disk full: \(failed ?? "no failure logged")")
        }
    }

    @Test("check command hanging past --command-timeout: killed with its process group, nothing written; SIGHUP with a good check converges")
    func checkHangs() async throws {
        try await blocking {
            let marker = "60.\(Int.random(in: 10000...99999))"
            let world = try FaultWorld(settings: ["check_command": "sleep \(marker); : {config}",
                                                   "command_timeout": "1s"])
            let daemon = try world.startDaemon()
            let old = world.siteText
            let mark = daemon.lines.count
            try world.recreate()
            let failed = daemon.waitForLine(from: mark, timeout: 20, where: { $0.contains("resync failed") })
            #expect(failed != nil, "\(daemon.log)")
            #expect(world.siteText == old)
            #expect(world.reloadsOK == 0)
            world.settings["check_command"] = world.nginx.checkCommand
            try world.writeConfig()
            daemon.signal(SIGHUP)
            #expect(world.converges(reloads: 1, timeout: 30), "\(daemon.log)")
            // Every timed-out check was killed, not left running.
            #expect(eventuallyBlocking(timeout: .seconds(5)) { Self.processes(containing: "sleep \(marker)").isEmpty },
                    "a hung check survived its timeout")
            world.finish(daemon, fault: "check hangs: \(failed ?? "no failure logged")")
        }
    }

    @Test("reload command failing: the checked file is live, the reload is retried; SIGHUP with a good reload converges")
    func reloadFails() async throws {
        try await blocking {
            let world = try FaultWorld(settings: ["reload_command": "echo reload refused >&2; exit 1"])
            let daemon = try world.startDaemon()
            let workers = world.nginx.workerPids
            let mark = daemon.lines.count
            try world.recreate()
            let failed = daemon.waitForLine(from: mark, where: { $0.contains("resync failed") })
            #expect(failed != nil, "\(daemon.log)")
            // The swap happened (the new bytes passed the check); nginx still runs the old config.
            #expect(eventuallyBlocking(timeout: .seconds(5)) { world.siteText == world.expectedSite(world.current) })
            #expect(world.liveConfigPasses())
            #expect(world.nginx.workerPids == workers)
            #expect(world.metric("ipsyncd_reloads_total{result=\"failed\"}") >= 1)
            world.settings["reload_command"] = world.nginx.reloadCommand
            try world.writeConfig()
            daemon.signal(SIGHUP)
            #expect(world.converges(reloads: 1, timeout: 30), "\(daemon.log)")
            #expect(eventuallyBlocking(timeout: .seconds(10)) { world.nginx.workerPids.isDisjoint(with: workers) }, "nginx was not reloaded")
            #expect(!FileManager.default.fileExists(atPath: world.stateDir + "/pending-reload"))
            world.finish(daemon, fault: "reload fails: \(failed ?? "no failure logged")")
        }
    }

    /// pids whose command line contains `text` (arguments joined by spaces).
    static func processes(containing text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), processIsAlive(pid),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            return line.contains(text) ? pid : nil
        }
    }
}
