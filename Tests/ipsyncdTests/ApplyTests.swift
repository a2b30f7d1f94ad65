import Foundation
import NginxApply
import Testing
import TestSupport

/// docs/design.md §6 against a real nginx in a sandbox: staged check, swap, reload, confirmation.
@Suite("Apply")
struct ApplyTests {
    @Test func appliesNewBytesReloadsAndTrafficFollows() async throws {
        let old = try Backend(name: "old"), new = try Backend(name: "new")
        defer { old.stop(); new.stop() }
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: old.address) })
        try sandbox.start()
        defer { sandbox.stop() }
        #expect(try sandbox.get("/").body == old.body)

        let state = try TempDir("ipsyncd-state")
        let before = try readBytes(sandbox.siteTarget)
        let workersBefore = sandbox.workerPids
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: new.address))
        let trace = PhaseTrace()
        let report = try await ApplyFixture.applier(sandbox, stateDir: state.path).apply(candidate: candidate, expected: before,
                                                                                          trace: trace)

        // Every step of a staged apply is traced once, and the swap follows the check, the reload the swap.
        let steps = trace.phases.map(\.phase)
        #expect(Set(steps) == [.staged, .checkStart, .checkEnd, .renamed, .directorySynced, .reloadStart, .reloadSent, .workersSeen])
        #expect(steps.count == 8)
        let order = steps.filter { $0 != .directorySynced }   // the directory's fsync runs beside the reload
        #expect(order == [.staged, .checkStart, .checkEnd, .renamed, .reloadStart, .reloadSent, .workersSeen])
        #expect(report.stagedCheck)
        #expect(report.confirmed)
        #expect(report.checkOutput.contains("syntax is ok"))
        #expect(try readBytes(sandbox.siteTarget) == candidate)
        #expect(!sandbox.workerPids.subtracting(workersBefore).isEmpty)
        #expect(await sandbox.eventuallyGet("/", contains: new.body)?.body == new.body)
        #expect(ApplyFixture.isSymlink(sandbox.sitePath))
        #expect(try readBytes(state.file("last-good/flowmaster")) == before)
        #expect(!FileManager.default.fileExists(atPath: state.file("pending-reload")))
        #expect(ApplyFixture.stagingLeftovers(sandbox).isEmpty)
    }

    @Test func symlinkModeAndOwnerAreKept() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        let runningAsRoot = geteuid() == 0
        #expect(chmod(sandbox.siteTarget, 0o640) == 0)
        if runningAsRoot { #expect(chown(sandbox.siteTarget, 1234, 5678) == 0) }

        let state = try TempDir("ipsyncd-state")
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9"))
        _ = try await ApplyFixture.applier(sandbox, stateDir: state.path)
            .apply(candidate: candidate, expected: try readBytes(sandbox.siteTarget))

        #expect(ApplyFixture.isSymlink(sandbox.sitePath))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: sandbox.sitePath) == "../sites-available/flowmaster")
        var info = stat()
        #expect(stat(sandbox.siteTarget, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o640)
        if runningAsRoot {
            #expect(info.st_uid == 1234)
            #expect(info.st_gid == 5678)
        }
        #expect(try readBytes(sandbox.siteTarget) == candidate)
    }

    @Test func candidateFailingTheCheckChangesNothing() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        let state = try TempDir("ipsyncd-state")
        let before = try readBytes(sandbox.siteTarget)
        let workersBefore = sandbox.workerPids
        let broken = ApplyFixture.bytes("server {\n    listen \(sandbox.listen);\n    proxy_pass_typo http://127.0.0.3:9;\n}\n")

        let error = await #expect(throws: ApplyError.self) {
            try await ApplyFixture.applier(sandbox, stateDir: state.path).apply(candidate: broken, expected: before)
        }
        #expect(error?.code == .checkFailed)
        #expect(error?.output.contains("unknown directive \"proxy_pass_typo\"") == true)
        #expect(try readBytes(sandbox.siteTarget) == before)
        #expect(sandbox.workerPids == workersBefore)
        #expect(!FileManager.default.fileExists(atPath: state.file("pending-reload")))
        #expect(ApplyFixture.stagingLeftovers(sandbox).isEmpty)
    }

    @Test func anotherBrokenSiteBlocksTheApplyUntilFixed() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        try sandbox.dir.write("sites-enabled/other", "server {\n    listen \(sandbox.listen);\n    server_name other;\n    bogus on;\n}\n")
        let state = try TempDir("ipsyncd-state")
        let applier = ApplyFixture.applier(sandbox, stateDir: state.path)
        let before = try readBytes(sandbox.siteTarget)
        let workersBefore = sandbox.workerPids
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9"))

        let error = await #expect(throws: ApplyError.self) {
            try await applier.apply(candidate: candidate, expected: before)
        }
        #expect(error?.code == .checkFailed)
        #expect(error?.output.contains("bogus") == true)
        #expect(try readBytes(sandbox.siteTarget) == before)
        #expect(sandbox.workerPids == workersBefore)

        try sandbox.dir.write("sites-enabled/other", "server {\n    listen \(sandbox.listen);\n    server_name other;\n}\n")
        let report = try await applier.apply(candidate: candidate, expected: before)
        #expect(report.stagedCheck)
        #expect(try readBytes(sandbox.siteTarget) == candidate)
        #expect(ApplyFixture.stagingLeftovers(sandbox).isEmpty)
    }

    @Test func fallbackSwapsChecksAndRestoresWhenNoIncludeLoadsTheSite() async throws {
        // The site is loaded from a file the main config includes (a second level): not staged.
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") },
                                       httpInclude: "conf.d/*.conf")
        try sandbox.dir.write("conf.d/sites.conf", "include \(sandbox.prefix)/sites-enabled/*;\n")
        try sandbox.start()
        defer { sandbox.stop() }
        let state = try TempDir("ipsyncd-state")
        let applier = ApplyFixture.applier(sandbox, stateDir: state.path)
        #expect(try applier.stagingPlan().isStaged == false)

        let before = try readBytes(sandbox.siteTarget)
        let broken = ApplyFixture.bytes("server { listen \(sandbox.listen); nonsense; }\n")
        let error = await #expect(throws: ApplyError.self) {
            try await applier.apply(candidate: broken, expected: before)
        }
        #expect(error?.code == .checkFailed)
        #expect(try readBytes(sandbox.siteTarget) == before)
        #expect(ApplyFixture.isSymlink(sandbox.sitePath))
        #expect(!FileManager.default.fileExists(atPath: state.file("pending-reload")))

        let workersBefore = sandbox.workerPids
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9"))
        let report = try await applier.apply(candidate: candidate, expected: before)
        #expect(!report.stagedCheck)
        #expect(try readBytes(sandbox.siteTarget) == candidate)
        #expect(!sandbox.workerPids.subtracting(workersBefore).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: state.file("pending-reload")))
        #expect(ApplyFixture.stagingLeftovers(sandbox).isEmpty)
    }

    @Test func reloadThatDoesNothingIsNotConfirmedAndStartupRecoveryReloads() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        let state = try TempDir("ipsyncd-state")
        let before = try readBytes(sandbox.siteTarget)
        let workersBefore = sandbox.workerPids
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9"))

        let noop = ApplyFixture.applier(sandbox, stateDir: state.path, reloadCommand: "true", timeout: .seconds(3))
        let error = await #expect(throws: ApplyError.self) {
            try await noop.apply(candidate: candidate, expected: before)
        }
        #expect(error?.code == .reloadNotConfirmed)
        #expect(error?.message.contains("nginx did not start new workers") == true)
        #expect(try readBytes(sandbox.siteTarget) == candidate)
        #expect(FileManager.default.fileExists(atPath: state.file("pending-reload")))
        #expect(noop.hasPendingReload)
        #expect(sandbox.workerPids == workersBefore)

        // Leftovers of a crashed run, beside the site and beside the main config.
        let leftovers = [try sandbox.dir.write("sites-available/.flowmaster.ipsyncd-crashed", "x"),
                         try sandbox.dir.write(".nginx.conf.ipsyncd-crashed", "x")]
        let recovery = try await ApplyFixture.applier(sandbox, stateDir: state.path).recoverAtStartup()
        #expect(recovery.reloaded)
        #expect(!recovery.restored)
        #expect(Set(recovery.removedLeftovers.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
                == Set(leftovers.map { URL(fileURLWithPath: $0).standardizedFileURL.path }))
        #expect(ApplyFixture.stagingLeftovers(sandbox).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: state.file("pending-reload")))
        #expect(!sandbox.workerPids.subtracting(workersBefore).isEmpty)
    }

    @Test func reloadNginxRejectsIsNotConfirmed() async throws {
        // `nginx -t` does not bind, so a listen address another process holds passes the check;
        // the reload then fails inside nginx (bind), which keeps its old workers.
        let holder = try Backend(name: "holder")
        defer { holder.stop() }
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        let state = try TempDir("ipsyncd-state")
        let workersBefore = sandbox.workerPids
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9")
            + "server { listen \(holder.address); }\n")
        let error = await #expect(throws: ApplyError.self) {
            try await ApplyFixture.applier(sandbox, stateDir: state.path, timeout: .seconds(2))
                .apply(candidate: candidate, expected: try readBytes(sandbox.siteTarget))
        }
        #expect(error?.code == .reloadNotConfirmed)
        #expect(sandbox.workerPids == workersBefore)
        #expect(FileManager.default.fileExists(atPath: state.file("pending-reload")))
    }

    @Test func failedReloadIsRetriedUntilItSucceeds() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        let state = try TempDir("ipsyncd-state")
        let workersBefore = sandbox.workerPids
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9"))

        let failing = ApplyFixture.applier(sandbox, stateDir: state.path, reloadCommand: "echo reload refused; exit 1")
        let error = await #expect(throws: ApplyError.self) {
            try await failing.apply(candidate: candidate, expected: try readBytes(sandbox.siteTarget))
        }
        #expect(error?.code == .reloadFailed)
        #expect(error?.output == "reload refused\n")
        #expect(failing.hasPendingReload)
        #expect(try readBytes(sandbox.siteTarget) == candidate)
        await #expect(throws: ApplyError.self) { try await failing.retryPendingReload() }
        #expect(failing.hasPendingReload)

        let applier = ApplyFixture.applier(sandbox, stateDir: state.path)
        #expect(try await applier.retryPendingReload())
        #expect(!applier.hasPendingReload)
        #expect(!sandbox.workerPids.subtracting(workersBefore).isEmpty)
        #expect(try await applier.retryPendingReload() == false)
    }

    @Test func recoveryWithoutAnIntentNoteDoesNotReload() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        let state = try TempDir("ipsyncd-state")
        let workersBefore = sandbox.workerPids
        let recovery = try await ApplyFixture.applier(sandbox, stateDir: state.path, reloadCommand: "exit 1").recoverAtStartup()
        #expect(!recovery.reloaded)
        #expect(recovery.removedLeftovers.isEmpty)
        #expect(sandbox.workerPids == workersBefore)
    }

    @Test func hangingCheckTimesOutAndChangesNothing() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        let state = try TempDir("ipsyncd-state")
        let before = try readBytes(sandbox.siteTarget)
        let applier = ApplyFixture.applier(sandbox, stateDir: state.path, checkCommand: "sleep 60", timeout: .milliseconds(300))
        let error = await #expect(throws: ApplyError.self) {
            try await applier.apply(candidate: ApplyFixture.bytes("server {}\n"), expected: before)
        }
        #expect(error?.code == .checkTimedOut)
        #expect(try readBytes(sandbox.siteTarget) == before)
        #expect(ApplyFixture.stagingLeftovers(sandbox).isEmpty)
    }

    @Test func fileChangedUnderneathIsReported() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        let state = try TempDir("ipsyncd-state")
        let before = try readBytes(sandbox.siteTarget)
        let error = await #expect(throws: ApplyError.self) {
            try await ApplyFixture.applier(sandbox, stateDir: state.path, reloadCommand: "exit 1")
                .apply(candidate: ApplyFixture.bytes("server {}\n"), expected: before + ApplyFixture.bytes("# edited\n"))
        }
        #expect(error?.code == .siteChanged)
        #expect(try readBytes(sandbox.siteTarget) == before)
        #expect(ApplyFixture.stagingLeftovers(sandbox).isEmpty)
    }

    @Test func secondApplierWaitsForTheLockThenGivesUp() async throws {
        let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.2:9") })
        try sandbox.start()
        defer { sandbox.stop() }
        let state = try TempDir("ipsyncd-state")
        let before = try readBytes(sandbox.siteTarget)
        let candidate = ApplyFixture.bytes(NginxSandbox.proxySite(listen: sandbox.listen, backend: "127.0.0.3:9"))
        // The first applier holds the lock while its check runs; the marker says it has started.
        let marker = sandbox.dir.file("check-started")
        let slow = ApplyFixture.applier(sandbox, stateDir: state.path,
                                        checkCommand: "touch \(marker); sleep 1; " + sandbox.checkCommand)
        let first = Task { try await slow.apply(candidate: candidate, expected: before) }
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: marker) { try await Task.sleep(for: .milliseconds(10)) }

        let error = await #expect(throws: ApplyError.self) {
            try await ApplyFixture.applier(sandbox, stateDir: state.path, timeout: .milliseconds(100))
                .apply(candidate: candidate, expected: before)
        }
        #expect(error?.code == .lockBusy)
        #expect(error?.message.contains(state.file("lock")) == true)
        #expect(try await first.value.confirmed)
        #expect(try readBytes(sandbox.siteTarget) == candidate)
    }
}
