extension MetricsFile {
    /// One resync's result: its kind, the check and reload durations, whether a reload ran and worked,
    /// and each route's in-sync state after it.
    package mutating func record(_ result: ResyncResult, at time: Double) {
        var reloadOK: Bool?
        if result.report != nil || result.reloadedPending { reloadOK = true }
        if result.touchedReload && result.applyError != nil { reloadOK = false }
        record(result.outcome, at: time, check: result.report?.checkDuration, reload: result.report?.reloadDuration,
               reloadOK: reloadOK)
        routes = result.routes.map {
            RouteState(location: $0.location, service: $0.service,
                       inSync: $0.status == .unchanged || ($0.status == .changed && result.outcome == .applied))
        }
    }
}

extension ResyncResult {
    /// A reload was run (or attempted): the next one waits `min_reload_interval`.
    var touchedReload: Bool {
        if report != nil || reloadedPending { return true }
        guard let code = applyError?.code else { return false }
        return [.reloadFailed, .reloadTimedOut, .reloadNotConfirmed].contains(code)
    }
}
