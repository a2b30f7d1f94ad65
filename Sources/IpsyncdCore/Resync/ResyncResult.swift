import NginxApply

/// What one resync came to. Its one rendering for each reader: `rawValue` is the journal's IPSYNCD_RESULT,
/// the JSON line's `ipsyncd_result` and the metrics' `result` label; `ResyncLine` words the text.
/// The order is the order of the metrics samples.
package enum ResyncOutcome: String, Sendable, CaseIterable {
    /// The new file passed the check, was swapped in, and nginx reloaded.
    case applied
    /// The file already points at every live address: nothing written, nothing run.
    case inSync = "in_sync"
    /// Nothing to write, and at least one route kept its address (its Service has none usable).
    case kept
    /// The site could not be read or planned, or the apply failed (`failure`, `applyError`).
    case failed
    /// `--dry-run` with changes pending (`plan.diff`); nothing written, nothing run.
    case dryRun = "dry_run"
}

/// What one resync did, for the journal line (`logResync`), metrics, and `ipsyncd sync`'s exit code.
package struct ResyncResult: Sendable {
    package var outcome: ResyncOutcome
    package var dryRun: Bool
    /// nil when the site file (or template) could not be read.
    package var plan: Plan?
    package var report: ApplyReport?
    package var applyError: ApplyError?
    /// Why the resync failed, for humans (names the file or command and what to do).
    package var failure: String?
    /// The file was in sync but an earlier change's reload was pending, and it has now been done.
    package var reloadedPending = false
    package var planDuration: Duration = .zero
    package var applyDuration: Duration?
    package var duration: Duration = .zero
    /// The instants of its steps, for the `resync.trace` debug line.
    package var trace = PhaseTrace()

    init(outcome: ResyncOutcome, dryRun: Bool) {
        self.outcome = outcome
        self.dryRun = dryRun
    }

    /// One per route: location, service, old, new, status, reason.
    package var routes: [RouteOutcome] { plan?.outcomes ?? [] }
    package var changes: [RouteOutcome] { routes.filter { $0.status == .changed } }
    package var kept: [RouteOutcome] { routes.filter { $0.status == .kept } }
    /// Routes that could not be synced (the others were), and the failure.
    package var errors: [String] {
        var errors = plan?.errors ?? []
        if let failure, !errors.contains(failure) { errors.append(failure) }
        return errors
    }
    package var warnings: [String] { plan?.warnings ?? [] }
    package var diff: [UInt8] { plan?.diff ?? [] }
}
