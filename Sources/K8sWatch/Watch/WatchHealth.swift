/// How the watch is doing, for `status`, the journal and metrics.
package struct WatchHealth: Sendable, Equatable {
    /// A watch stream is open.
    package var connected: Bool
    /// The last event of any kind, bookmarks included.
    package var lastEventAt: ContinuousClock.Instant?
    /// The error of the current trouble; nil once the watch is restored.
    package var lastError: K8sError?
    /// LIST requests made.
    package var lists: Int
    /// WATCH requests made.
    package var watches: Int
    /// Failed rounds that were retried (after a backoff or a Retry-After).
    package var reconnects: Int
    /// Snapshots published.
    package var snapshots: Int

    package init(connected: Bool = false, lastEventAt: ContinuousClock.Instant? = nil, lastError: K8sError? = nil,
                lists: Int = 0, watches: Int = 0, reconnects: Int = 0, snapshots: Int = 0) {
        self.connected = connected
        self.lastEventAt = lastEventAt
        self.lastError = lastError
        self.lists = lists
        self.watches = watches
        self.reconnects = reconnects
        self.snapshots = snapshots
    }
}
