import NginxApply

/// What one resync came to. Its one rendering for each reader: `rawValue` is the journal's IPSYNCD_RESULT,
/// the JSON line's `ipsyncd_result` and the metrics' `result` label; `ResyncLine` words the text.
/// The order is the order of the metrics samples.
public enum ResyncOutcome: String, Sendable, CaseIterable {
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
public struct ResyncResult: Sendable {
    public var outcome: ResyncOutcome
    public var dryRun: Bool
    /// nil when the site file (or template) could not be read.
    public var plan: Plan?
    public var report: ApplyReport?
    public var applyError: ApplyError?
    /// Why the resync failed, for humans (names the file or command and what to do).
    public var failure: String?
    /// The file was in sync but an earlier change's reload was pending, and it has now been done.
    public var reloadedPending = false
    public var planDuration: Duration = .zero
    public var applyDuration: Duration?
    public var duration: Duration = .zero
    /// The instants of its steps, for the `resync.trace` debug line.
    public var trace = PhaseTrace()

    init(outcome: ResyncOutcome, dryRun: Bool) {
        self.outcome = outcome
        self.dryRun = dryRun
    }

    /// One per route: location, service, old, new, status, reason.
    public var routes: [RouteOutcome] { plan?.outcomes ?? [] }
    public var changes: [RouteOutcome] { routes.filter { $0.status == .changed } }
    public var kept: [RouteOutcome] { routes.filter { $0.status == .kept } }
    /// Routes that could not be synced (the others were), and the failure.
    public var errors: [String] {
        var errors = plan?.errors ?? []
        if let failure, !errors.contains(failure) { errors.append(failure) }
        return errors
    }
    public var warnings: [String] { plan?.warnings ?? [] }
    public var diff: [UInt8] { plan?.diff ?? [] }
}
