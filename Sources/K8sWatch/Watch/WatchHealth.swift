/// How the watch is doing, for `status`, the journal and metrics.
public struct WatchHealth: Sendable, Equatable {
    /// A watch stream is open.
    public var connected: Bool
    /// The last event of any kind, bookmarks included.
    public var lastEventAt: ContinuousClock.Instant?
    /// The error of the current trouble; nil once the watch is restored.
    public var lastError: K8sError?
    /// LIST requests made.
    public var lists: Int
    /// WATCH requests made.
    public var watches: Int
    /// Failed rounds that were retried (after a backoff or a Retry-After).
    public var reconnects: Int
    /// Snapshots published.
    public var snapshots: Int

    public init(connected: Bool = false, lastEventAt: ContinuousClock.Instant? = nil, lastError: K8sError? = nil,
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
