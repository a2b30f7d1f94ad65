/// docs/design.md §4 and §6 timing, pure: events go in with their instants, "resync at T" comes out. A burst resyncs
/// `settle` after its last event, but at the latest `maxDelay` after its first (a stream that never goes quiet
/// is still applied); and a resync that may reload waits until `minReloadInterval` after the last reload.
struct Coalescer<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    let settle: Duration
    let maxDelay: Duration
    let minReloadInterval: Duration
    private(set) var firstEvent: Instant?
    private(set) var lastEvent: Instant?
    private(set) var lastReload: Instant?

    init(settle: Duration, minReloadInterval: Duration, maxDelay: Duration = .seconds(1)) {
        self.settle = settle
        self.minReloadInterval = minReloadInterval
        self.maxDelay = maxDelay
    }

    var isPending: Bool { firstEvent != nil }

    mutating func event(at instant: Instant) {
        if firstEvent == nil { firstEvent = instant }
        lastEvent = instant
    }

    /// When the pending burst is to be resynced; nil when nothing is pending.
    var due: Instant? {
        guard let firstEvent, let lastEvent else { return nil }
        // A settle configured longer than the cap widens the cap: a lone event always gets its full settle.
        let settled = min(lastEvent.advanced(by: settle), firstEvent.advanced(by: max(maxDelay, settle)))
        guard let lastReload else { return settled }
        return max(settled, lastReload.advanced(by: minReloadInterval))
    }

    /// The resync started: events from now on start a new burst.
    mutating func fired() {
        firstEvent = nil
        lastEvent = nil
    }

    /// A reload happened (or was attempted) at `instant`.
    mutating func reloaded(at instant: Instant) { lastReload = instant }
}
