import Foundation
import NginxApply
import Testing
import TestSupport

/// How the staged main config is built: which include loads the site, glob order, the candidate
/// in the site's place, every other byte kept. The check command copies the staged config aside.
@Suite("ApplyStaging")
struct ApplyStagingTests {
    /// Applies with a check command that only captures the staged config (`cp {config} CAPTURE`),
    /// then returns the captured text; the reload (`true`) is not confirmed, which is expected here.
    /// The timeout is generous for the check on a busy machine; the unconfirmed reload waits it out.
    func captureStagedConfig(_ sandbox: NginxSandbox, candidate: String,
                             check: String? = nil) async throws -> (error: ApplyError?, staged: String) {
        let state = try TempDir("ipsyncd-state")
        let capture = sandbox.dir.file("captured.conf")
        let applier = ApplyFixture.applier(sandbox, stateDir: state.path,
                                           checkCommand: "cp {config} \(capture)" + (check.map { " && " + $0 } ?? ""),
                                           reloadCommand: "true", timeout: .seconds(3))
        let expected = try readBytes(sandbox.siteTarget)
        var failure: ApplyError?
        do {
            _ = try await applier.apply(candidate: ApplyFixture.bytes(candidate), expected: expected)
        } catch {
            failure = error
        }
        return (failure, try String(contentsOfFile: capture, encoding: .utf8))
    }

    @Test func globIncludeBecomesExplicitFilesInGlobOrder() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        for name in ["z", "B", "a", ".hidden", "flowmaster.bak~"] {
            try sandbox.dir.write("sites-enabled/\(name)", "# \(name)\n")
        }
        let plan = try ApplyFixture.applier(sandbox, stateDir: sandbox.dir.file("state")).stagingPlan()
        let include = try #require(plan.includes.first)
        #expect(plan.includes.count == 1)
        #expect(include.pattern == "sites-enabled/*")
        // glob(3) order in the C locale, as nginx's include uses it; dot files never match `*`.
        #expect(include.files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["B", "a", "flowmaster", "flowmaster.bak~", "z"])
        #expect(include.siteIndex == 2)
        #expect(plan.summary.contains("nginx.conf:"))

        let (error, staged) = try await captureStagedConfig(sandbox, candidate: "# candidate\n")
        #expect(error?.code == .reloadNotConfirmed)
        let original = try String(contentsOfFile: sandbox.confPath, encoding: .utf8)
        let directive = "include sites-enabled/*;"
        let range = try #require(original.range(of: directive))
        // Every byte around the directive is kept; the directive's replacement stays on its line.
        #expect(staged.hasPrefix(String(original[..<range.lowerBound])))
        #expect(staged.hasSuffix(String(original[range.upperBound...])))
        let replacement = staged.dropFirst(original.distance(from: original.startIndex, to: range.lowerBound))
            .dropLast(original.distance(from: range.upperBound, to: original.endIndex))
        let pattern = #"^include "([^"]*)/B"; include "([^"]*)/a"; include "([^"]*)/\.flowmaster\.ipsyncd-[A-Za-z0-9]+"; include "([^"]*)/flowmaster\.bak~"; include "([^"]*)/z";$"#
        #expect(replacement.range(of: pattern, options: .regularExpression) != nil, "\(replacement)")
        #expect(!replacement.contains("\n"))
        // The candidate is staged beside the symlink's target, not in sites-enabled.
        #expect(replacement.contains("sites-available/.flowmaster.ipsyncd-"))
        #expect(ApplyFixture.stagingLeftovers(sandbox).isEmpty)
    }

    @Test func stagedConfigPassesRealNginxCheck() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.dir.write("sites-enabled/another", "server { listen \(sandbox.listen); server_name another; }\n")
        let candidate = NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9")
        let (error, staged) = try await captureStagedConfig(sandbox, candidate: candidate, check: sandbox.checkCommand)
        #expect(error?.code == .reloadNotConfirmed)
        #expect(staged.contains("/another\"; include \""))
    }

    @Test func siteIncludedByItsTargetPathIsFound() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") },
                                       httpInclude: "sites-available/flowmaster")
        let plan = try ApplyFixture.applier(sandbox, stateDir: sandbox.dir.file("state")).stagingPlan()
        #expect(plan.includes.map(\.pattern) == ["sites-available/flowmaster"])
        let (_, staged) = try await captureStagedConfig(sandbox, candidate: "# candidate\n")
        #expect(staged.range(of: #"include "[^"]*/sites-available/\.flowmaster\.ipsyncd-[A-Za-z0-9]+";"#, options: .regularExpression) != nil)
        #expect(!staged.contains("include sites-available/flowmaster;"))
    }

    @Test func siteIncludedByItsSymlinkPathIsFound() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") },
                                       httpInclude: "\"sites-enabled/flowmaster\"")
        let plan = try ApplyFixture.applier(sandbox, stateDir: sandbox.dir.file("state")).stagingPlan()
        #expect(plan.includes.map(\.pattern) == ["sites-enabled/flowmaster"])
        #expect(plan.isStaged)
    }

    @Test func noIncludeLoadingTheSiteIsExplained() throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") },
                                       httpInclude: "conf.d/*.conf")
        let plan = try ApplyFixture.applier(sandbox, stateDir: sandbox.dir.file("state")).stagingPlan()
        #expect(!plan.isStaged)
        #expect(plan.summary.contains("no include in"))
        #expect(plan.summary.contains("fall back"))
    }

    @Test func checkCommandWithoutConfigPlaceholderChecksInPlace() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        let state = try TempDir("ipsyncd-state")
        let check = sandbox.checkCommand.replacing("{config}", with: sandbox.confPath)
        let applier = ApplyFixture.applier(sandbox, stateDir: state.path, checkCommand: check)
        #expect(try applier.stagingPlan().summary.contains("no {config}"))
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9"))
        let report = try await applier.apply(candidate: candidate, expected: try readBytes(sandbox.siteTarget))
        #expect(!report.stagedCheck)
        #expect(try readBytes(sandbox.siteTarget) == candidate)
    }

    @Test func interruptedUncheckedSwapIsUndoneAtStartup() async throws {
        // The state a crash leaves in the middle of the fallback: new bytes live, not yet checked.
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        let state = try TempDir("ipsyncd-state")
        let good = try readBytes(sandbox.siteTarget)
        try state.write("last-good/flowmaster", good)
        try state.write("pending-reload", "site=\(sandbox.siteTarget)\nbytes=9\nphase=unchecked\ntime=0\n")
        try sandbox.dir.write("sites-available/flowmaster", "unchecked")

        let recovery = try await ApplyFixture.applier(sandbox, stateDir: state.path, reloadCommand: "exit 1").recoverAtStartup()
        #expect(recovery.restored)
        #expect(!recovery.reloaded)
        #expect(try readBytes(sandbox.siteTarget) == good)
        #expect(ApplyFixture.isSymlink(sandbox.sitePath))
        #expect(!FileManager.default.fileExists(atPath: state.file("pending-reload")))
    }

    @Test func applyUndoesAnInterruptedUncheckedSwapFirst() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        let state = try TempDir("ipsyncd-state")
        let good = try readBytes(sandbox.siteTarget)
        try state.write("last-good/flowmaster", good)
        try state.write("pending-reload", "site=\(sandbox.siteTarget)\nbytes=9\nphase=unchecked\ntime=0\n")
        try sandbox.dir.write("sites-available/flowmaster", "unchecked")

        // A caller that planned from the unchecked bytes is told to plan again from the good ones.
        let error = await #expect(throws: ApplyError.self) {
            try await ApplyFixture.applier(sandbox, stateDir: state.path, reloadCommand: "exit 1")
                .apply(candidate: ApplyFixture.bytes("# new\n"), expected: ApplyFixture.bytes("unchecked"))
        }
        #expect(error?.code == .siteChanged)
        #expect(try readBytes(sandbox.siteTarget) == good)
        #expect(!FileManager.default.fileExists(atPath: state.file("pending-reload")))
    }
}
