import K8sWatch

/// The daemon's decisions, pure (docs/design.md §6 timing): events go in with their instant, actions come out, and
/// `nextWake` says when to call again. It owns the coalescer, the backoff after a failed check or reload,
/// the periodic full resync, the watchdog pings and the stop with its grace. It touches no clock, file,
/// process or network: `Daemon` runs it and carries its actions out.
struct Scheduler<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    struct Timing: Sendable, Equatable {
        var settle: Duration
        var minReloadInterval: Duration
        var resyncInterval: Duration
        /// Half of systemd's WatchdogSec; nil without a watchdog.
        var watchdogInterval: Duration?
        /// An apply longer than this stops the pings, so that systemd's watchdog acts on a truly hung one.
        var applyWatchdogLimit: Duration
        /// How long an apply in progress may go on after SIGTERM before it is abandoned.
        var stopGrace: Duration
    }

    enum Event: Sendable {
        case snapshot(ServiceSnapshot)
        /// A wake-up asked for by `nextWake` (or any other): whatever is due now is done.
        case timer
        /// `jitter` in 0..<1 spreads the backoff (injected so that tests are exact).
        case applyFinished(failed: Bool, touchedReload: Bool, jitter: Double)
        /// SIGHUP loaded new settings; `newSource`: the Services now come from another watch.
        case settingsChanged(Timing, newSource: Bool)
        case stop(signal: String)
    }

    enum Action: Sendable, Equatable {
        /// Resync this snapshot (one apply at a time).
        case apply(ServiceSnapshot)
        /// The periodic full resync: list again.
        case relist
        case pingWatchdog
        /// An apply finished: log its line (with `retryIn` when it failed), READY when `ready`, else STATUS.
        case report(retryIn: Duration?, ready: Bool)
        /// Say STOPPING (after the apply in progress, if any).
        case announceStop(signal: String)
        /// The apply in progress outlasted the grace after a stop: give up waiting for it.
        case abandonApply(grace: Duration)
        case exit(Int32)
    }

    private(set) var timing: Timing
    private var coalescer: Coalescer<Instant>
    private var backoff = Backoff()
    private var backoffUntil: Instant?
    private var snapshot: ServiceSnapshot?
    private var nextFullResync: Instant
    private var nextWatchdog: Instant?
    /// Set while an apply runs.
    private var applyStarted: Instant?
    private var stopping: (signal: String, graceUntil: Instant)?
    private(set) var isReady = false
    private(set) var isFinished = false

    /// Watching has started at `now`: the resync and watchdog timers count from here.
    init(timing: Timing, now: Instant) {
        self.timing = timing
        coalescer = Coalescer(settle: timing.settle, minReloadInterval: timing.minReloadInterval)
        nextFullResync = now.advanced(by: timing.resyncInterval)
        nextWatchdog = timing.watchdogInterval.map { now.advanced(by: $0) }
    }

    var isApplying: Bool { applyStarted != nil }

    mutating func handle(_ event: Event, at now: Instant) -> [Action] {
        guard !isFinished else { return [] }
        var actions: [Action] = []
        switch event {
        case .snapshot(let new):
            snapshot = new
            coalescer.event(at: now)
        case .timer:
            break
        case .applyFinished(let failed, let touchedReload, let jitter):
            applyStarted = nil
            if touchedReload { coalescer.reloaded(at: now) }
            var retryIn: Duration?
            if failed {
                let delay = backoff.next(random: jitter)
                retryIn = delay
                backoffUntil = now.advanced(by: delay)
                coalescer.event(at: now)   // the retry
            } else {
                backoff.reset()
                backoffUntil = nil
            }
            let becameReady = !isReady && !failed
            if becameReady { isReady = true }
            actions.append(.report(retryIn: retryIn, ready: becameReady))
            if let stopping {
                isFinished = true
                return actions + [.announceStop(signal: stopping.signal), .exit(0)]
            }
        case .settingsChanged(let new, let newSource):
            guard stopping == nil else { return [] }
            let lastReload = coalescer.lastReload
            timing = new
            coalescer = Coalescer(settle: new.settle, minReloadInterval: new.minReloadInterval)
            if let lastReload { coalescer.reloaded(at: lastReload) }
            if newSource { snapshot = nil }
            nextFullResync = now.advanced(by: new.resyncInterval)
            nextWatchdog = new.watchdogInterval.map { now.advanced(by: $0) }
            backoff.reset()
            backoffUntil = nil
            coalescer.event(at: now)   // resync with the new settings
        case .stop(let signal):
            guard stopping == nil else { return [] }
            guard isApplying else {
                isFinished = true
                return [.announceStop(signal: signal), .exit(0)]
            }
            stopping = (signal, now.advanced(by: timing.stopGrace))
        }
        return actions + due(at: now)
    }

    /// The earliest instant at which something falls due; nil once finished.
    var nextWake: Instant? {
        guard !isFinished else { return nil }
        var deadlines: [Instant] = []
        if let stopping {
            deadlines.append(stopping.graceUntil)
        } else {
            deadlines.append(nextFullResync)
            if !isApplying, let resyncDue { deadlines.append(resyncDue) }
        }
        if let nextWatchdog, watchdogAllowed(at: nextWatchdog) { deadlines.append(nextWatchdog) }
        return deadlines.min()
    }

    /// What is due at `now`: the grace's end, a watchdog ping, the periodic full resync, a coalesced resync.
    private mutating func due(at now: Instant) -> [Action] {
        var actions: [Action] = []
        if let stopping, now >= stopping.graceUntil {
            isFinished = true
            return [.abandonApply(grace: timing.stopGrace), .exit(0)]
        }
        if let interval = timing.watchdogInterval, let next = nextWatchdog, now >= next, watchdogAllowed(at: now) {
            actions.append(.pingWatchdog)
            nextWatchdog = now.advanced(by: interval)
        }
        guard stopping == nil else { return actions }
        if now >= nextFullResync {
            nextFullResync = now.advanced(by: timing.resyncInterval)
            coalescer.event(at: now)
            actions.append(.relist)
        }
        if !isApplying, let snapshot, let resyncDue, resyncDue <= now {
            coalescer.fired()
            applyStarted = now
            actions.append(.apply(snapshot))
        }
        return actions
    }

    private var resyncDue: Instant? {
        guard snapshot != nil, let due = coalescer.due else { return nil }
        if let backoffUntil { return max(due, backoffUntil) }
        return due
    }

    private func watchdogAllowed(at instant: Instant) -> Bool {
        guard let applyStarted else { return true }
        return instant < applyStarted.advanced(by: timing.applyWatchdogLimit)
    }
}
