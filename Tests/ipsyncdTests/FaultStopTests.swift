import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Issue 10 item 2, the exit part (docs/reliability.md): SIGTERM while the check command hangs. After
/// the stop's grace the apply is cancelled, and with it the command: its whole process group is killed.
@Suite("FaultMatrix: stop during a hung command")
struct FaultStopTests {
    @Test("SIGTERM during a hung check: ipsyncd exits 0 and no process of the check's group is left")
    func sigtermDuringHungCheck() async throws {
        try await blocking {
            let marker = "1000.\(Int.random(in: 10000...99999))"
            // The shell forks `sleep` (a grandchild in the same group), as a real check wrapper would.
            let world = try FaultWorld(settings: ["check_command": "sleep \(marker); : {config}", "command_timeout": "60s"])
            let daemon = try world.startDaemon()
            try world.recreate()
            var hung: [Int32] = []
            #expect(eventuallyBlocking(timeout: .seconds(20)) {
                hung = FaultLocalTests.processes(containing: "sleep \(marker)")
                return hung.contains { Self.processGroup($0) != $0 }  // the grandchild, not only the shell
            }, "the check command did not start: \(daemon.log)")
            let groups = Set(hung.compactMap(Self.processGroup))
            try #require(!groups.isEmpty)
            daemon.signal(SIGTERM)
            #expect(daemon.waitForExit(timeout: 15) == 0, "\(daemon.log)")
            #expect(eventuallyBlocking(timeout: .seconds(2)) { Self.processes(inGroups: groups).isEmpty },
                    "left running after ipsyncd exited: \(Self.processes(inGroups: groups))")
            for pid in Self.processes(inGroups: groups) { kill(pid, SIGKILL) }
            #expect(world.siteText == world.expectedSite(world.addresses[world.addresses.count - 2]), "nothing live changed")
            print("fault-matrix | SIGTERM during a hung check | exit \(daemon.waitForExit(timeout: 0) ?? -1) | "
                  + "processes of its group left \(Self.processes(inGroups: groups).count)")
        }
    }

    /// The process group of a live process (field 5 of /proc/PID/stat).
    static func processGroup(_ pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 ? Int32(fields[2]) : nil
    }

    /// Live (not zombie) processes in any of `groups`.
    static func processes(inGroups groups: Set<Int32>) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { processIsAlive($0) && processGroup($0).map(groups.contains) == true }
    }
}
