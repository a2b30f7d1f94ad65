import Glibc
public import Logging

/// docs/design.md §6: the only code that writes the site file or runs the check and reload commands.
///
/// Crash safety by construction: the live file changes only by `rename` of a complete, fsynced
/// file (after a crash it holds the old bytes or the new ones, never a mix), and the intent note
/// is fsynced before that rename, so a swap whose reload never happened is reloaded by the next
/// `recoverAtStartup()`. Every file ipsyncd creates beside the site or the main config is a dot
/// file nginx's globs never load, removed on every path and, after a crash, at start-up.
public struct Applier: Sendable {
    package let options: ApplyOptions
    let logger: Logger

    public init(options: ApplyOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// docs/design.md §6 steps 2–9 for bytes the caller has already computed from `expected` (step 1, stopping
    /// when nothing changes, is the caller's). Throws `.siteChanged` when the file no longer holds
    /// `expected` once the lock is held: recompute and call again. `trace` gets the instants of the steps.
    public func apply(candidate: [UInt8], expected: [UInt8], trace: PhaseTrace = PhaseTrace()) async throws(ApplyError) -> ApplyReport {
        let lock = try await ApplyLock.acquire(stateDir: options.stateDir, timeout: options.commandTimeout)
        defer { lock.release() }

        // A fallback swap interrupted before its check (and not yet recovered, e.g. a one-shot `sync`
        // after a crash): the live bytes are unchecked, so put the last good ones back first.
        if IntentNote.read(stateDir: options.stateDir)?.phase == .unchecked {
            try restoreLastGood()
            removeIntentNote()
            throw ApplyError(code: .siteChanged,
                             message: "an interrupted, unchecked swap was undone (the last good bytes are back); recompute from the current file")
        }
        let site = try resolveSite()
        let live: [UInt8]
        let planned: Planned
        do {
            let (bytes, identity) = try FileSystem.readWithIdentity(site.target)
            (live, planned) = (bytes, Planned(bytes: bytes, identity: identity))
        } catch {
            throw ApplyError(code: .siteUnreadable, message: "cannot read the site file: \(error); check the site setting")
        }
        guard live == expected else {
            throw ApplyError(code: .siteChanged,
                             message: "\(site.target) changed while the new text was computed (\(live.count) bytes, expected \(expected.count)); recompute from the current file")
        }
        let main = try Staging.MainConfig.load(options.nginxConf)
        let plan = Staging.plan(main: main, siteTarget: site.target)

        // Without `{config}` the check command cannot see a staged config: check in place instead.
        let staged = plan.isStaged && options.checkCommand.contains("{config}")
        let check: CommandResult
        if staged {
            check = try await stagedCheckAndSwap(candidate: candidate, old: live, site: site, main: main, plan: plan,
                                                 planned: planned, trace: trace)
        } else {
            let why = inPlaceReason(plan)
            logger.notice("checking by swap, check, restore", metadata: ["site": "\(site.target)", "why": "\(why)"])
            check = try await swapCheckRestore(candidate: candidate, old: live, site: site, why: why, planned: planned,
                                               trace: trace)
        }
        logger.debug("check passed, new bytes swapped in", metadata: [
            "site": "\(site.target)", "staged": "\(staged)", "check_duration": "\(check.duration)",
        ])
        let reloaded: Result<Duration, ApplyError>
        if staged {
            // The rename is visible at once, so nginx may reload while the directory's fsync makes it durable; the
            // intent note (durable already) owes the reload until both are done, as after a crash in between.
            async let reloading = reloadAndConfirm(pidFile: pidFile(main: main), trace: trace)
            let synced = syncDirectory(of: site.target, trace: trace)
            reloaded = await reloading
            try synced.get()
        } else {
            reloaded = await reloadAndConfirm(pidFile: pidFile(main: main), trace: trace)
        }
        let reloadDuration = try reloaded.get()
        removeIntentNote()
        logger.debug("reload confirmed by new nginx workers", metadata: ["reload_duration": "\(reloadDuration)"])
        return ApplyReport(stagedCheck: staged, checkDuration: check.duration, reloadDuration: reloadDuration,
                           confirmed: true, checkOutput: check.outputText)
    }

    /// At start-up: removes leftover staged and temporary files; if an intent note is present,
    /// reloads nginx (and confirms it) and removes the note. A fallback swap that never finished
    /// its check is undone instead (the last good bytes put back; nginx never loaded the others).
    public func recoverAtStartup() async throws(ApplyError) -> RecoveryReport {
        let lock = try await ApplyLock.acquire(stateDir: options.stateDir, timeout: options.commandTimeout)
        defer { lock.release() }
        let (removed, notRemoved) = removeLeftovers()
        for path in removed {
            logger.notice("removed a file left by an earlier run", metadata: ["file": "\(path)"])
        }
        for message in notRemoved { logger.warning("\(message)") }
        let outcome = try await settleIntentNote()
        return RecoveryReport(removedLeftovers: removed, leftoversNotRemoved: notRemoved,
                              reloaded: outcome == .reloaded, restored: outcome == .restored)
    }

    /// True when a swap happened whose reload is not confirmed yet (the intent note exists).
    public var hasPendingReload: Bool {
        FileSystem.exists(IntentNote.path(stateDir: options.stateDir))
    }

    /// Retries the reload of a swap whose reload failed or was not confirmed: after `.reloadFailed`,
    /// `.reloadTimedOut` or `.reloadNotConfirmed` the file already holds the new bytes, so the next
    /// resync finds nothing to change; call this (with backoff) until it returns. Returns whether a
    /// reload (or the undoing of an unchecked swap) was needed.
    public func retryPendingReload() async throws(ApplyError) -> Bool {
        guard hasPendingReload else { return false }
        let lock = try await ApplyLock.acquire(stateDir: options.stateDir, timeout: options.commandTimeout)
        defer { lock.release() }
        return try await settleIntentNote() != .nothing
    }

    private enum NoteOutcome { case nothing, reloaded, restored }

    /// With the lock held: acts on the intent note, if any, and removes it once done.
    private func settleIntentNote() async throws(ApplyError) -> NoteOutcome {
        guard let note = IntentNote.read(stateDir: options.stateDir) else { return .nothing }
        if note.phase == .unchecked {
            try restoreLastGood()
            removeIntentNote()
            return .restored
        }
        logger.notice("the site file holds bytes nginx has not loaded yet (intent note): reloading nginx",
                      metadata: ["site": "\(note.site)"])
        _ = try await reloadAndConfirm(pidFile: pidFile(main: try? Staging.MainConfig.load(options.nginxConf))).get()
        removeIntentNote()
        return .reloaded
    }

    /// For `ipsyncd check`: how the staged check would be built (which include loads the site, or why none does).
    public func stagingPlan() throws(ApplyError) -> StagingPlan {
        let site = try resolveSite()
        var plan = Staging.plan(main: try Staging.MainConfig.load(options.nginxConf), siteTarget: site.target)
        if plan.isStaged && !options.checkCommand.contains("{config}") {
            plan.summary += "; but the check command has no {config}, so apply checks in place (swap, check, restore)"
        }
        return plan
    }

    // MARK: Steps

    struct Site {
        var target: String
        var metadata: FileSystem.Metadata
    }

    /// The file the plan was made from, as read under the lock.
    struct Planned {
        var bytes: [UInt8]
        var identity: FileSystem.Identity
    }

    /// Step 3: the symlink's target is the file to rewrite; the symlink itself stays.
    func resolveSite() throws(ApplyError) -> Site {
        do {
            let target = try FileSystem.resolve(options.sitePath)
            return Site(target: target, metadata: try FileSystem.metadata(target))
        } catch {
            throw ApplyError(code: .siteUnreadable, message: "cannot resolve the site file: \(error); check the site setting")
        }
    }

    /// Steps 4 and 6: the candidate and the staged main config as dot files (removed afterwards), `nginx -t`
    /// on them, and meanwhile the part of the swap that does not depend on the check (last good copy, intent
    /// note, the new bytes fsynced beside the target), so that only a rename and one directory fsync stand
    /// between a passed check and the reload. A failed check discards the prepared file and the note.
    private func stagedCheckAndSwap(candidate: [UInt8], old: [UInt8], site: Site, main: Staging.MainConfig,
                                    plan: StagingPlan, planned: Planned, trace: PhaseTrace) async throws(ApplyError) -> CommandResult {
        let candidatePath = FileSystem.stagingPath(beside: site.target)
        let stagedMain = FileSystem.stagingPath(beside: main.path)
        defer {
            FileSystem.remove(candidatePath)
            FileSystem.remove(stagedMain)
        }
        let mainMode = (try? FileSystem.metadata(main.path).mode) ?? 0o644
        do {
            try FileSystem.create(candidatePath, candidate, mode: site.metadata.mode)
            try FileSystem.create(stagedMain, Staging.stagedConfig(main: main, plan: plan, candidate: candidatePath), mode: mainMode)
        } catch {
            throw ApplyError(code: .stageFailed, message: "cannot write a staged file for the check: \(error); the directory must be writable by ipsyncd")
        }
        trace.mark(.staged)
        // The check command runs on a thread of its own (CommandRunner); the fsyncs go on meanwhile. A child
        // task (not a detached one), so that cancelling the apply kills the check command too.
        async let check = runCheck(config: stagedMain, trace: trace)
        let prepared: String
        do {
            prepared = try prepareSwap(candidate, old: old, site: site, phase: .checked)
        } catch {
            _ = await check
            throw error
        }
        let result = await check
        do {
            try checkPassed(result, what: "the new text for \(site.target) failed the check (staged in \(FileSystem.baseName(of: stagedMain))); nothing live changed")
        } catch {
            FileSystem.remove(prepared)
            removeIntentNote()
            throw error
        }
        // The directory's fsync goes on while nginx reloads (`apply`).
        try commitSwap(prepared, site: site, planned: planned, syncDirectory: false, trace: trace)
        return result
    }

    /// Why the check cannot be staged: the plan found no include, or the check command cannot take a staged config.
    private func inPlaceReason(_ plan: StagingPlan) -> String {
        plan.isStaged ? "the check command has no {config}" : "no include in \(plan.nginxConf) loads the site"
    }

    /// Fallback when the check cannot be staged (`why`): swap, check the real config, put the old bytes back on failure.
    private func swapCheckRestore(candidate: [UInt8], old: [UInt8], site: Site,
                                  why: String, planned: Planned, trace: PhaseTrace) async throws(ApplyError) -> CommandResult {
        try commitSwap(try prepareSwap(candidate, old: old, site: site, phase: .unchecked), site: site, planned: planned,
                       syncDirectory: true, trace: trace)
        let result = await runCheck(config: options.nginxConf, trace: trace)
        do {
            try checkPassed(result, what: "the new text for \(site.target) failed the check (\(why), so it was checked in place); the old bytes are back")
        } catch {
            do {
                try FileSystem.replace(site.target, with: old, mode: site.metadata.mode, owner: (site.metadata.uid, site.metadata.gid))
            } catch let restoreError {
                throw ApplyError(code: .writeFailed,
                                 message: "the new text for \(site.target) failed the check and restoring the old bytes failed: \(restoreError); the next start restores them from \(lastGoodPath(site.target))",
                                 output: result.outputText)
            }
            removeIntentNote()
            throw error
        }
        do {
            try IntentNote(site: site.target, byteCount: candidate.count, phase: .checked, time: IntentNote.now())
                .write(stateDir: options.stateDir)
        } catch {
            throw ApplyError(code: .stateDir, message: "cannot update the intent note: \(error)")
        }
        return result
    }

    private func runCheck(config: String, trace: PhaseTrace) async -> CommandResult {
        let command = options.checkCommand.replacing("{config}", with: shellQuote(config))
        trace.mark(.checkStart)
        defer { trace.mark(.checkEnd) }
        return await CommandRunner(timeout: options.commandTimeout).run(command)
    }

    private func checkPassed(_ result: CommandResult, what: String) throws(ApplyError) {
        if result.cancelled {
            throw ApplyError(code: .checkTimedOut,
                             message: "the check command was killed because ipsyncd is stopping; \(what)", output: result.outputText)
        }
        if result.timedOut {
            throw ApplyError(code: .checkTimedOut,
                             message: "the check command did not finish within \(options.commandTimeout) and was killed; \(what)",
                             output: result.outputText)
        }
        guard result.status == 0 else {
            throw ApplyError(code: .checkFailed, message: "\(what) (exit \(result.status))", output: result.outputText)
        }
    }

    /// Step 6 up to the rename: the last good copy and the intent note in the state directory, and the new
    /// bytes fsynced in a dot file beside the target with its mode and owner. Returns that file's path.
    private func prepareSwap(_ bytes: [UInt8], old: [UInt8], site: Site, phase: IntentNote.Phase) throws(ApplyError) -> String {
        do {
            try FileSystem.makeDirectory(options.stateDir + "/last-good", mode: 0o700)
            // Only an unchecked swap is undone from the last good copy after a crash; for a checked one it need
            // not survive a power loss, and its two fsyncs would contend with the check.
            try FileSystem.replace(lastGoodPath(site.target), with: old, mode: 0o600, owner: nil, durable: phase == .unchecked)
            try IntentNote(site: site.target, byteCount: bytes.count, phase: phase, time: IntentNote.now())
                .write(stateDir: options.stateDir)
        } catch {
            throw ApplyError(code: .stateDir, message: "cannot write to the state directory: \(error); check state_dir")
        }
        let temp = FileSystem.stagingPath(beside: site.target)
        do {
            try FileSystem.create(temp, bytes, mode: site.metadata.mode, owner: (site.metadata.uid, site.metadata.gid), sync: true)
        } catch {
            removeIntentNote()
            throw ApplyError(code: .writeFailed, message: "cannot write the new site file beside \(site.target): \(error); the live file is unchanged")
        }
        return temp
    }

    /// Step 6, the swap itself: the rename is atomic (a crash leaves the old bytes or the new ones), then
    /// (`syncDirectory`, else the caller's) the directory is fsynced so that the rename survives a power loss. A hand edit made since the plan
    /// (in place, or an editor's rename over the file) is never overwritten: the prepared file is discarded
    /// and `.siteChanged` tells the caller to plan again from the edited file.
    private func commitSwap(_ temp: String, site: Site, planned: Planned, syncDirectory: Bool,
                            trace: PhaseTrace) throws(ApplyError) {
        guard Self.stillHolds(site.target, planned) else {
            FileSystem.remove(temp)
            removeIntentNote()
            logger.warning("the site file changed while the apply was in flight: the prepared file was discarded and the apply is re-planned from the edited file",
                           metadata: ["site": "\(site.target)"])
            throw ApplyError(code: .siteChanged,
                             message: "\(site.target) changed while the apply was in flight (after the plan was made, before the swap); the prepared file was discarded: re-plan from the edited file")
        }
        guard rename(temp, site.target) == 0 else {
            let error = FileSystem.describe(errno)
            FileSystem.remove(temp)
            removeIntentNote()
            throw ApplyError(code: .writeFailed, message: "cannot rename the new site file over \(site.target): \(error); the live file is unchanged")
        }
        trace.mark(.renamed)
        if syncDirectory { try self.syncDirectory(of: site.target, trace: trace).get() }
    }

    /// The fsync that makes a rename in the site's directory durable.
    private func syncDirectory(of target: String, trace: PhaseTrace) -> Result<Void, ApplyError> {
        defer { trace.mark(.directorySynced) }
        do {
            try FileSystem.syncDirectory(FileSystem.directory(of: target))
            return .success(())
        } catch {
            // The new bytes are live; the intent note stays, so the reload is still owed and retried.
            return .failure(ApplyError(code: .writeFailed, message: "the new site file is in place but fsync of its directory failed: \(error)"))
        }
    }

    /// Whether `path` is still the file the plan was made from: the same inode, the same bytes read back,
    /// and a stat after that read-back that shows no write since it was opened (times may tick coarsely,
    /// hence the bytes). What remains between this and the rename is one stat and a compare.
    static func stillHolds(_ path: String, _ planned: Planned) -> Bool {
        guard let (bytes, opened) = try? FileSystem.readWithIdentity(path),
              opened.device == planned.identity.device, opened.inode == planned.identity.inode,
              bytes == planned.bytes,
              let now = try? FileSystem.identity(path) else { return false }
        return now == opened
    }

    /// Step 7: the reload command, then new workers under nginx's master (old ones may linger on
    /// long connections, so their exit is not waited for). Returns the time from reload to confirmation.
    private func reloadAndConfirm(pidFile: String, trace: PhaseTrace = PhaseTrace()) async -> Result<Duration, ApplyError> {
        do throws(ApplyError) {
            return .success(try await confirmedReload(pidFile: pidFile, trace: trace))
        } catch {
            return .failure(error)
        }
    }

    private func confirmedReload(pidFile: String, trace: PhaseTrace) async throws(ApplyError) -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        let master = NginxProcesses.masterPid(pidFile: pidFile)
        let before = master.map(NginxProcesses.children(of:)) ?? []
        trace.mark(.reloadStart)
        let result = await CommandRunner(timeout: options.commandTimeout).run(options.reloadCommand)
        trace.mark(.reloadSent)
        if result.cancelled {
            throw ApplyError(code: .reloadTimedOut,
                             message: "the reload command was killed because ipsyncd is stopping; the next start reloads nginx (intent note)",
                             output: result.outputText)
        }
        if result.timedOut {
            throw ApplyError(code: .reloadTimedOut,
                             message: "the reload command did not finish within \(options.commandTimeout) and was killed; the reload is retried",
                             output: result.outputText)
        }
        guard result.status == 0 else {
            throw ApplyError(code: .reloadFailed, message: "the reload command failed (exit \(result.status)); the reload is retried",
                             output: result.outputText)
        }
        let deadline = clock.now + options.commandTimeout
        while true {
            if let now = NginxProcesses.masterPid(pidFile: pidFile),
               !NginxProcesses.children(of: now).subtracting(before).isEmpty {
                trace.mark(.workersSeen)
                return clock.now - start
            }
            if clock.now >= deadline || Task.isCancelled { break }
            try? await Task.sleep(for: .milliseconds(2))
        }
        let why = master == nil ? "no running nginx master in \(pidFile)" : "nginx did not start new workers"
        throw ApplyError(code: .reloadNotConfirmed,
                         message: "the reload command succeeded but \(why) within \(options.commandTimeout); check the reload command and nginx's error log (the reload is retried)",
                         output: result.outputText)
    }

    private func restoreLastGood() throws(ApplyError) {
        let site = try resolveSite()
        let path = lastGoodPath(site.target)
        do {
            let old = try FileSystem.read(path)
            try FileSystem.replace(site.target, with: old, mode: site.metadata.mode, owner: (site.metadata.uid, site.metadata.gid))
            logger.notice("an unchecked swap was interrupted: the last good bytes are back", metadata: ["site": "\(site.target)"])
        } catch {
            throw ApplyError(code: .writeFailed,
                             message: "an unchecked swap was interrupted and \(site.target) cannot be restored from \(path): \(error); "
                                + "check the site file by hand (nginx -t), then remove \(IntentNote.path(stateDir: options.stateDir))")
        }
    }
}
