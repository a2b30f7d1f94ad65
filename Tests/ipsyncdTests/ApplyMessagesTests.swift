import Foundation
import NginxApply
import Testing
import TestSupport
@testable import IpsyncdCore

/// Issue 10 item 9: messages an operator can act on, for the applier's failures.
@Suite("ApplyMessages")
struct ApplyMessagesTests {
    /// A wrapper that prints progress first and its reason last: the log line must carry the exit status
    /// and the end of the output, not the first line.
    @Test func failedCheckWithoutEmergShowsItsStatusAndLastLines() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        let state = try TempDir("ipsyncd-state")
        let before = try readBytes(sandbox.siteTarget)
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9"))
        let check = "echo checking {config}; echo step 2 of 3; echo 'policy: upstream 127.0.0.3:9 is not allowed' >&2; exit 3"
        var failure: ApplyError?
        do {
            _ = try await ApplyFixture.applier(sandbox, stateDir: state.path, checkCommand: check)
                .apply(candidate: candidate, expected: before)
        } catch { failure = error }
        let error = try #require(failure)
        #expect(error.code == .checkFailed)
        var result = ResyncResult(outcome: .failed, dryRun: false)
        result.applyError = error
        let text = ResyncLine.failureText(result, checkLabel: ResyncLine.checkLabel(check))
        #expect(text.contains("exit 3"), "\(text)")
        #expect(text.contains("policy: upstream 127.0.0.3:9 is not allowed"), "\(text)")
        #expect(try readBytes(sandbox.siteTarget) == before)
    }

    @Test func failedCommandThatPrintedNothingSaysSo() {
        var result = ResyncResult(outcome: .failed, dryRun: false)
        result.applyError = ApplyError(code: .reloadFailed, message: "the reload command failed (exit 1); the reload is retried")
        let text = ResyncLine.failureText(result, checkLabel: "nginx -t")
        #expect(text == "reload: the reload command failed (exit 1); the reload is retried; the command printed nothing")
    }

    @Test func nginxEmergLineIsStillWhatIsShown() {
        var result = ResyncResult(outcome: .failed, dryRun: false)
        result.applyError = ApplyError(code: .checkFailed, message: "failed the check (exit 1)", output: """
            nginx: the configuration file x syntax is ok
            nginx: [emerg] unknown directive "x" in /etc/nginx/sites-enabled/flowmaster:3
            nginx: configuration file x test failed
            """)
        #expect(ResyncLine.failureText(result, checkLabel: "nginx -t")
                == "nginx -t: nginx: [emerg] unknown directive \"x\" in /etc/nginx/sites-enabled/flowmaster:3")
    }

    /// A directory with a staged file's name is not ipsyncd's: it is left alone and said so, never "removed".
    @Test func directoryWhereAStagedFileWasExpectedIsLeftAndSaidSo() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        let state = try TempDir("ipsyncd-state")
        let directory = sandbox.dir.file("sites-available/.flowmaster.ipsyncd-somebodys")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        try "keep".write(toFile: directory + "/inside", atomically: false, encoding: .utf8)
        let file = try sandbox.dir.write("sites-available/.flowmaster.ipsyncd-crashed", "x")

        let recovery = try await ApplyFixture.applier(sandbox, stateDir: state.path).recoverAtStartup()
        #expect(recovery.removedLeftovers.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                == [URL(fileURLWithPath: file).standardizedFileURL.path])
        #expect(recovery.leftoversNotRemoved.count == 1)
        let message = recovery.leftoversNotRemoved.first ?? ""
        #expect(message.contains(".flowmaster.ipsyncd-somebodys is a directory") && message.contains("left alone"), "\(message)")
        #expect(FileManager.default.fileExists(atPath: directory + "/inside"))
    }
}
