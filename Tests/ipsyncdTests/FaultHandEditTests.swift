import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Issue 10 item 1 (docs/reliability.md): a hand edit made while an apply is in flight is kept. The check
/// is slowed (a wrapper that marks its start, sleeps, then runs nginx -t), and during each of 50 one-shot
/// syncs the site file is edited, in place (an append, as `echo >>` does) or by rename (as `sed -i` and
/// editors do): in half of the rounds at a random point of the whole run, in the other half while the
/// check runs (so that the re-plan is exercised whatever the machine's speed). Every edit must survive
/// and every sync must leave the new address in the file.
@Suite("FaultMatrix: hand edits during applies")
struct FaultHandEditTests {
    static let rounds = 50

    @Test("edits in place and by rename at random points of 50 applies with a slowed check: none lost, every apply converges")
    func handEditsDuringApplies() async throws {
        try await blocking {
            let world = try FaultWorld()
            let checkStarted = world.dir.file("check-started")
            world.settings["check_command"] = "touch \(checkStarted); sleep 0.2; " + world.nginx.checkCommand
            try world.writeConfig()
            let sync = ["sync", "--config", world.configPath, "--log-format", "text"]
            let target = world.nginx.siteTarget
            // The shortest clean run is the span the edits are spread over.
            var span = Double.infinity
            for _ in 0..<2 {
                try world.move(to: FaultWorld.randomAddress())
                let started = Date()
                let clean = try IpsyncdProcess.run(sync)
                span = min(span, Date().timeIntervalSince(started))
                try #require(clean.status == 0, "\(clean.stderr)")
            }
            var edits: [String] = []
            var replanned = 0, editorOverwroteSwap = 0, lostAt: Int?
            for round in 0..<Self.rounds {
                try world.move(to: FaultWorld.randomAddress())
                unlink(checkStarted)
                let process = try IpsyncdProcess(sync)
                if round % 4 < 2 {
                    usleep(UInt32(Double.random(in: 0...span) * 1_000_000))
                } else {
                    #expect(eventuallyBlocking(timeout: .seconds(30)) { access(checkStarted, F_OK) == 0 }, "round \(round): no check ran")
                }
                let edit = "# hand edit \(round) " + (round % 2 == 0 ? "in place" : "by rename")
                if round % 2 == 0 { try Self.append(edit, to: target) } else { try Self.editByRename(target, adding: edit) }
                edits.append(edit)
                let status = process.waitForExit(timeout: 60)
                #expect(status == 0, "round \(round): \(process.log)")
                replanned += process.count { $0.contains("re-planned from the edited file") }
                if !world.siteText.contains(world.current) {
                    // The editor read the file before the swap and renamed its copy over it after: its own lost
                    // update (of the address), not ipsyncd's; the next sync puts the address back.
                    editorOverwroteSwap += 1
                    #expect(try IpsyncdProcess.run(sync).status == 0)
                }
                let expected = world.expectedSite(world.current) + edits.map { $0 + "\n" }.joined()
                #expect(world.siteText == expected, "round \(round): an edit was lost or the address is stale\n\(process.log)")
                if world.siteText != expected { lostAt = round; break }
            }
            #expect(replanned > 0, "no edit fell between the plan and the swap: the test proves nothing")
            #expect(world.liveConfigPasses())
            #expect(world.leftovers.isEmpty, "leftovers: \(world.leftovers)")
            print("fault-matrix | hand edits ×\(Self.rounds) over 0–\(Int(span * 1000)) ms of a sync with a 200 ms slower check: "
                  + "re-planned \(replanned)×, editor's rename overwrote the swap \(editorOverwroteSwap)×, "
                  + (lostAt.map { "an edit lost in round \($0)" } ?? "edits lost 0"))
        }
    }

    /// `echo LINE >> file`: one append to the same inode.
    static func append(_ line: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw SandboxError("open \(path): errno \(errno)") }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw SandboxError("write \(path): errno \(errno)") }
    }

    /// What `sed -i` and editors do: a new file with the edited text renamed over the old one.
    static func editByRename(_ path: String, adding line: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8) + line + "\n"
        let temp = path + ".hand-edit"
        try text.write(toFile: temp, atomically: false, encoding: .utf8)
        guard rename(temp, path) == 0 else { throw SandboxError("rename \(temp): errno \(errno)") }
    }
}
