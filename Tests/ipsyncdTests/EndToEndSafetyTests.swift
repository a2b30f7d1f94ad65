import Foundation
import Testing
import TestSupport

@Suite("EndToEnd: applying safely", .serialized)
struct EndToEndSafetyTests {
    @Test("Another site file broken: the recreate is not applied, no reload; fixed, the retry applies it")
    func brokenOtherSiteBlocksThenRetries() async throws {
        try await blocking {
            let world = try Flowmaster()
            let daemon = try world.startDaemon()
            let before = world.siteBytes
            let workers = world.nginx.workerPids
            let other = world.nginx.dir.file("sites-enabled/other")
            try Data("server {\n    listen 127.0.0.1:1;\n    no_such_directive on;\n}\n".utf8).write(to: URL(fileURLWithPath: other))

            let mark = daemon.lines.count
            let next = try world.recreate("api-gateway", as: "api-gateway-2")
            let failed = daemon.waitForLine(from: mark) { $0.contains("resync failed") }
            #expect(failed?.contains("no_such_directive") == true, "\(daemon.log)")
            #expect(world.siteBytes == before, "the live file changed although the check failed")
            #expect(world.nginx.workerPids == workers, "nginx was reloaded although the check failed")
            #expect(world.reloadsOK == 0)

            try Data("# fixed\n".utf8).write(to: URL(fileURLWithPath: other))
            #expect(world.traffic("api-gateway", reaches: next, timeout: 40), "the retry did not apply\n\(daemon.log)")
            daemon.stop()
        }
    }

    @Test("A reload command that does nothing is reported as not confirmed, and retried")
    func reloadNotConfirmed() async throws {
        try await blocking {
            let world = try Flowmaster()
            world.reloadCommand = "true"
            world.commandTimeout = "1s"
            let daemon = try world.startDaemon()
            let mark = daemon.lines.count
            try world.recreate("api-gateway", as: "api-gateway-2")
            let unconfirmed: (String) -> Bool = { $0.contains("resync failed") && $0.contains("did not start new workers") }
            #expect(daemon.waitForLine(from: mark, where: unconfirmed) != nil, "\(daemon.log)")
            #expect(eventuallyBlocking(timeout: .seconds(30)) { daemon.lines[mark...].filter(unconfirmed).count >= 2 }, "not retried\n\(daemon.log)")
            daemon.stop()
        }
    }

    @Test("A symlinked site file stays a symlink, with its mode and owner")
    func symlinkModeOwnerKept() async throws {
        try await blocking {
            let world = try Flowmaster()
            let target = world.nginx.siteTarget
            // As root the file goes to nobody:nogroup; otherwise it stays ours (a user cannot give files away).
            let owner: (uid: uid_t, gid: gid_t) = geteuid() == 0 ? (65534, 65534) : (geteuid(), getegid())
            #expect(chmod(target, 0o640) == 0)
            #expect(chown(target, owner.uid, owner.gid) == 0)
            let daemon = try world.startDaemon()
            let next = try world.recreate("websocket-gateway", as: "websocket-gateway-2")
            #expect(world.traffic("websocket-gateway", reaches: next), "\(daemon.log)")
            daemon.stop()

            var link = stat(), file = stat()
            #expect(lstat(world.nginx.sitePath, &link) == 0)
            #expect(link.st_mode & S_IFMT == S_IFLNK, "the site symlink was replaced by a regular file")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: world.nginx.sitePath) == "../sites-available/flowmaster")
            #expect(stat(target, &file) == 0)
            #expect(file.st_mode & 0o7777 == 0o640)
            #expect(file.st_uid == owner.uid && file.st_gid == owner.gid)
            #expect(String(decoding: world.siteBytes, as: UTF8.self).contains(next.address))
        }
    }

    @Test("SIGHUP re-reads the config file (another route port) and resyncs; SIGTERM exits 0")
    func sighupAndSigterm() async throws {
        try await blocking {
            let admin = try Backend(name: "api-gateway-admin")
            let world = try Flowmaster(apiPorts: [.init(name: "admin", port: admin.port)])
            // The admin port's backend listens on api-gateway's ClusterIP, as a Service's second port would.
            let adminAtClusterIP = try Backend(name: "api-gateway-admin", host: world.backends["api-gateway"]!.host,
                                               port: admin.port)
            admin.stop()
            let daemon = try world.startDaemon()
            #expect(world.traffic("api-gateway", reaches: world.backends["api-gateway"]!))

            try world.writeConfig(apiPort: "admin")
            let mark = daemon.lines.count
            daemon.signal(SIGHUP)
            #expect(daemon.waitForLine(from: mark) { $0.contains("SIGHUP") && $0.contains("reloaded") } != nil, "\(daemon.log)")
            #expect(world.traffic("api-gateway", reaches: adminAtClusterIP), "\(daemon.log)")

            let start = ContinuousClock.now
            daemon.signal(SIGTERM)
            let status = daemon.waitForExit(timeout: 20)
            let elapsed = ContinuousClock.now - start
            #expect(status == 0, "\(daemon.log)")
            print("SIGTERM → exit \(status.map(String.init) ?? "none") after \(elapsed)")
        }
    }

    @Test("SIGTERM during an apply finishes the apply, then exits 0")
    func sigtermDuringApply() async throws {
        try await blocking {
            let world = try Flowmaster()
            let started = world.dir.file("check-started")
            // A check that takes a second, and says when it began.
            world.checkCommand = "touch \(started); sleep 1; \(world.nginx.checkCommand)"
            let daemon = try world.startDaemon()
            let next = try world.recreate("api-gateway", as: "api-gateway-2")
            #expect(eventuallyBlocking { FileManager.default.fileExists(atPath: started) }, "the check never ran\n\(daemon.log)")

            let start = ContinuousClock.now
            daemon.signal(SIGTERM)
            let status = daemon.waitForExit(timeout: 20)
            let elapsed = ContinuousClock.now - start
            #expect(status == 0, "\(daemon.log)")
            #expect(String(decoding: world.siteBytes, as: UTF8.self).contains("http://\(next.address);"),
                    "the apply in progress was not finished\n\(daemon.log)")
            #expect(world.liveConfigPasses())
            #expect(world.traffic("api-gateway", reaches: next), "applied but not reloaded\n\(daemon.log)")
            print("SIGTERM during a 1 s check → exit \(status.map(String.init) ?? "none") after \(elapsed)")
        }
    }
}
