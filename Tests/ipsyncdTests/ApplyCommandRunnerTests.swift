import Foundation
import NginxApply
import Testing
import TestSupport

@Suite("ApplyCommandRunner")
struct ApplyCommandRunnerTests {
    @Test func capturesOutputAndExitCode() async {
        let result = await CommandRunner(timeout: .seconds(10)).run("echo out; echo err >&2; exit 3")
        #expect(result.status == 3)
        #expect(!result.timedOut)
        #expect(result.outputText == "out\nerr\n")
    }

    @Test func stdinIsDevNull() async {
        let result = await CommandRunner(timeout: .seconds(10)).run("cat; echo done")
        #expect(result.succeeded)
        #expect(result.outputText == "done\n")
    }

    @Test func outputIsCapped() async {
        let result = await CommandRunner(timeout: .seconds(10)).run("head -c 200000 /dev/zero")
        #expect(result.succeeded)
        #expect(result.output.count == CommandRunner.outputCap)
        #expect(result.truncated)
    }

    @Test func hangingCommandIsKilledWithItsProcessGroup() async throws {
        let dir = try TempDir()
        let pidFile = dir.file("grandchild.pid"), shellPidFile = dir.file("shell.pid")
        // The shell starts a grandchild and waits for it: both are in the command's process group.
        let result = await CommandRunner(timeout: .seconds(1))
            .run("echo $$ > \(shellPidFile); sleep 60 & echo $! > \(pidFile); wait")
        #expect(result.timedOut)
        #expect(!result.succeeded)
        #expect(result.status == 128 + SIGTERM)
        func pid(_ path: String) throws -> pid_t {
            try #require(pid_t(String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        #expect(!processIsAlive(try pid(pidFile)))
        // Reaped: not even a zombie entry is left for the shell.
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(try pid(shellPidFile))"))
    }

    @Test func commandIgnoringSigtermIsKilled() async throws {
        let result = await CommandRunner(timeout: .seconds(1)).run("trap '' TERM; sleep 60 & wait; sleep 60")
        #expect(result.timedOut)
        #expect(result.status == 128 + SIGKILL)
    }

    @Test func cancellingTheTaskKillsTheProcessGroup() async throws {
        let dir = try TempDir()
        let pidFile = dir.file("grandchild.pid")
        let task = Task { await CommandRunner(timeout: .seconds(600)).run("sleep 600 & echo $! > \(pidFile); wait") }
        var grandchild: pid_t?
        for _ in 0..<500 where grandchild == nil {
            try await Task.sleep(for: .milliseconds(10))
            grandchild = (try? String(contentsOfFile: pidFile, encoding: .utf8))
                .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let pid = try #require(grandchild)
        task.cancel()
        let result = await task.value
        #expect(result.cancelled)
        #expect(!result.succeeded)
        #expect(result.status == 128 + SIGKILL)
        for _ in 0..<200 where processIsAlive(pid) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!processIsAlive(pid))
    }

    @Test func missingProgramIsAnExitCode() async {
        let result = await CommandRunner(timeout: .seconds(10)).run("/nonexistent/program")
        #expect(result.status == 127)
        #expect(result.outputText.contains("/nonexistent/program"))
    }
}
