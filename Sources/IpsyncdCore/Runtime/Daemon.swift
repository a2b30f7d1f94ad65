public import Logging
import K8sWatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `ipsyncd run`: watch → coalesce → resync → journal line, systemd status, metrics; a full resync every
/// `resync_interval`; backoff after a failed check or reload; SIGHUP reloads the config, SIGTERM/SIGINT stop.
/// Between events nothing wakes up but the resync timer and the watchdog ping.
public actor Daemon {
    private enum State {
        case starting
        case idle
        case settling(first: ContinuousClock.Instant, last: ContinuousClock.Instant)
        case applying
        case backingOff(until: ContinuousClock.Instant)
        case stopping
    }

    private enum Event: Sendable {
        case snapshot(ServiceSnapshot)
        case signal(Int32)
        case tick
    }

    /// Where signals come from: the process (the binary) or a script (tests, which must not signal themselves).
    enum SignalSource: Sendable {
        case process
        case scripted(AsyncStream<Int32>)
    }

    private let clock = ContinuousClock()
    private let logger: Logger
    private let dryRun: Bool
    private let notifier: SystemdNotifier
    private let makeFeed: @Sendable (Settings) throws(K8sError) -> SnapshotFeed
    private let signalSource: SignalSource
    /// How long an in-flight apply may go on after SIGTERM before it is cancelled (exit within 5 s).
    private let stopGrace: Duration

    private var settings: Settings
    private var state = State.starting
    private var resyncer: Resyncer
    private var coalescer: Coalescer<ContinuousClock.Instant>
    private var backoff = Backoff()
    private var metrics: MetricsFile?
    private var snapshot: ServiceSnapshot?
    private var feed: SnapshotFeed?
    private var feedTasks: [Task<Void, Never>] = []
    private var signalTask: Task<Void, Never>?
    private var events: AsyncStream<Event>.Continuation?
    private var exit: AsyncStream<Int32>.Continuation?
    private var timer: Task<Void, Never>?
    private var timerDeadline: ContinuousClock.Instant?
    private var inflight: Task<ResyncResult, Never>?
    private var ready = false
    private var nextFullResync: ContinuousClock.Instant
    private var nextWatchdog: ContinuousClock.Instant?
    private var lastWarnings: [String] = []
    private var lastMetricsError: String?

    /// `dryRun`: log the diff each resync would apply; never write a file or run the check or reload command.
    public init(settings: Settings, logger: Logger, dryRun: Bool = false) {
        let environment = ProcessEnvironment.current
        self.init(settings: settings, logger: logger, dryRun: dryRun, notifier: SystemdNotifier(environment: environment),
                  signals: .process, stopGrace: .seconds(4)) { settings throws(K8sError) in
            try SnapshotFeed.kubernetes(settings: settings, environment: environment, logger: logger)
        }
    }

    init(settings: Settings, logger: Logger, dryRun: Bool, notifier: SystemdNotifier, signals: SignalSource,
         stopGrace: Duration, makeFeed: @escaping @Sendable (Settings) throws(K8sError) -> SnapshotFeed) {
        self.settings = settings
        self.logger = logger
        self.dryRun = dryRun
        self.notifier = notifier
        self.signalSource = signals
        self.stopGrace = stopGrace
        self.makeFeed = makeFeed
        self.resyncer = Resyncer(settings: settings, logger: logger)
        self.coalescer = Coalescer(settle: settings.settle, minReloadInterval: settings.minReloadInterval)
        self.metrics = settings.metricsFile.map(MetricsFile.init(path:))
        self.nextFullResync = ContinuousClock.now + settings.resyncInterval
    }

    /// Runs until SIGTERM or SIGINT (exit code 0), or until the start fails (78, EX_CONFIG: no usable kubeconfig).
    public func run() async -> Int32 {
        // The loop runs in a task of its own so that a stop never waits longer than the grace for an apply
        // stuck in a command (the command's own timeout may be far longer than systemd's patience).
        let (exits, exit) = AsyncStream<Int32>.makeStream()
        self.exit = exit
        Task { exit.yield(await self.loop()) }
        for await code in exits { return code }
        return 0
    }

    private func loop() async -> Int32 {
        let (stream, continuation) = AsyncStream<Event>.makeStream()
        events = continuation
        startSignals(continuation)
        notifier.status("starting")
        logger.info("starting: site \(settings.site), namespace \(settings.namespace), routes \(settings.routes.map(\.description).joined(separator: " "))\(dryRun ? " (dry run: nothing is written)" : "")")
        if !dryRun {
            // Recovery may reload nginx (an earlier run's unconfirmed swap): keep systemd's watchdog fed meanwhile.
            state = .applying
            let keepalive = startKeepalive()
            await recover()
            keepalive?.cancel()
        }

        let first: SnapshotFeed
        do { first = try makeFeed(settings) } catch {
            logger.critical("cannot start: \(error)")
            notifier.stopping(status: "cannot start: \(error)")
            stop()
            return ExitStatus.config
        }
        startFeed(first)
        logger.info("watching \(settings.namespace) via \(first.description)")
        nextFullResync = clock.now + settings.resyncInterval
        if let interval = notifier.watchdogInterval { nextWatchdog = clock.now + interval }
        state = .idle
        armTimer()

        for await event in stream {
            switch event {
            case .snapshot(let new):
                snapshot = new
                coalescer.event(at: clock.now)
            case .signal(let number):
                await handle(signal: number)
            case .tick:
                break
            }
            if case .stopping = state { break }
            await step()
            if case .stopping = state { break }
            armTimer()
        }
        stop()
        return 0
    }

    // MARK: the loop's steps

    /// What is due now: the watchdog ping, the periodic full resync, a coalesced resync.
    private func step() async {
        var now = clock.now
        pingWatchdogIfDue(now)
        if now >= nextFullResync {
            nextFullResync = now + settings.resyncInterval
            await feed?.relist()
            coalescer.event(at: now)
            logger.debug("resync_interval: relist and resync")
        }
        if let at = resyncAt, at <= now {
            await resync()
            now = clock.now
            pingWatchdogIfDue(now)
        }
        refreshState(now)
    }

    private var resyncAt: ContinuousClock.Instant? {
        guard snapshot != nil, let due = coalescer.due else { return nil }
        if case .backingOff(let until) = state { return max(due, until) }
        return due
    }

    private func refreshState(_ now: ContinuousClock.Instant) {
        if case .stopping = state { return }
        if case .backingOff(let until) = state, now < until { return }
        if let first = coalescer.firstEvent, let last = coalescer.lastEvent {
            state = .settling(first: first, last: last)
        } else {
            state = .idle
        }
    }

    private func pingWatchdogIfDue(_ now: ContinuousClock.Instant) {
        guard let interval = notifier.watchdogInterval, let next = nextWatchdog, now >= next else { return }
        notifier.watchdog()
        nextWatchdog = now + interval
    }

    private func resync() async {
        guard let snapshot else { return }
        state = .applying
        coalescer.fired()
        let keepalive = startKeepalive()
        let resyncer = self.resyncer, dryRun = self.dryRun
        let task = Task { await resyncer.resync(snapshot: snapshot, dryRun: dryRun) }
        inflight = task
        let result = await task.value
        inflight = nil
        keepalive?.cancel()

        if case .stopping = state {
            // Abandoned by a stop that outlasted the grace: say what became of it, nothing more.
            logResync(result, logger: logger, checkCommand: settings.checkCommand)
            return
        }
        let now = clock.now
        if result.touchedReload { coalescer.reloaded(at: now) }
        var retryIn: Duration?
        if result.outcome == .failed {
            let delay = backoff.next()
            retryIn = delay
            state = .backingOff(until: now + delay)
            coalescer.event(at: now)   // the retry
        } else {
            backoff.reset()
            state = .idle
        }
        logResync(result, logger: logger, retryIn: retryIn, checkCommand: settings.checkCommand)
        if result.warnings != lastWarnings {
            for warning in result.warnings { logger.warning("\(warning)") }
            lastWarnings = result.warnings
        }
        let startedUp = !ready && result.outcome != .failed
        report(result)
        await writeMetrics(result)
        // Going idle: the code and data pages start-up or this resync touched need not stay mapped (not in
        // tests, which share one process).
        if case .process = signalSource { ResidentMemory.release(startUp: startedUp) }
    }

    /// systemd: STATUS after every resync, READY once, after the first that did not fail.
    private func report(_ result: ResyncResult) {
        let line = ResyncLine(result, retryIn: nil, checkCommand: settings.checkCommand).message
        var status = String(line.split(separator: "\n").first ?? "")
        if status.count > 200 { status = String(status.prefix(199)) + "…" }
        if !ready && result.outcome != .failed {
            ready = true
            notifier.ready(status: status)
        } else {
            notifier.status(status)
        }
    }

    private func writeMetrics(_ result: ResyncResult) async {
        guard var metrics else { return }
        metrics.record(result, at: wallClockSeconds())
        if let feed { metrics.watchReconnects = await feed.reconnects() }
        self.metrics = metrics
        do {
            try metrics.write()
            lastMetricsError = nil
        } catch {
            // Once per distinct error, not once per resync.
            if lastMetricsError != error.message { logger.warning("\(error.message)") }
            lastMetricsError = error.message
        }
    }

    // MARK: signals

    private func handle(signal number: Int32) async {
        switch number {
        case SIGHUP:
            reloadSettings()
        case SIGTERM, SIGINT:
            state = .stopping
            logger.notice("stopping on \(UnixSignals.name(number))")
            notifier.stopping(status: "stopping on \(UnixSignals.name(number))")
        default:
            break
        }
    }

    /// SIGHUP: the config file and the same flags again; an invalid config is logged and the old one kept.
    private func reloadSettings() {
        let new: Settings
        do { new = try settings.reloaded() } catch {
            logger.error("SIGHUP: config not reloaded, keeping the running settings: \(error)")
            return
        }
        if !new.sameFeed(as: settings) {
            let replacement: SnapshotFeed
            do { replacement = try makeFeed(new) } catch {
                logger.error("SIGHUP: config not reloaded, keeping the running settings: \(error)")
                return
            }
            stopFeed()
            snapshot = nil
            startFeed(replacement)
            logger.info("watching \(new.namespace) via \(replacement.description)")
        }
        if new.logFormat != settings.logFormat || new.logLevel != settings.logLevel {
            logger.warning("SIGHUP: log_format and log_level take effect at the next start")
        }
        let lastReload = coalescer.lastReload
        settings = new
        resyncer = Resyncer(settings: new, logger: logger)
        coalescer = Coalescer(settle: new.settle, minReloadInterval: new.minReloadInterval)
        if let lastReload { coalescer.reloaded(at: lastReload) }
        if new.metricsFile != metrics?.path { metrics = new.metricsFile.map(MetricsFile.init(path:)) }
        let now = clock.now
        nextFullResync = now + new.resyncInterval
        backoff.reset()
        state = .idle
        coalescer.event(at: now)
        logger.notice("SIGHUP: config reloaded\(new.configFile.map { " from \($0)" } ?? " (built-in defaults and flags)")")
    }

    /// Called from the signal task while the loop may be inside a resync: the apply in progress finishes,
    /// unless it outlasts the grace; then `run` returns anyway, so that the daemon exits within 5 s. Nothing
    /// live is half-done by that: a check changes nothing live, the swap is one rename, and a swap whose
    /// reload did not happen is redone from the intent note at the next start.
    private func stopRequested() {
        guard case .applying = state else { return }
        let grace = stopGrace
        Task { [weak self] in
            try? await Task.sleep(for: grace)
            await self?.abandonApply()
        }
    }

    private func abandonApply() {
        guard case .applying = state else { return }
        inflight?.cancel()
        logger.warning("stopping: the apply in progress did not finish within \(ResyncLine.format(stopGrace)); exiting without waiting for it")
        notifier.stopping(status: "stopping; an apply in progress was abandoned")
        state = .stopping
        stop()
        exit?.yield(0)
    }

    private func startSignals(_ continuation: AsyncStream<Event>.Continuation) {
        let forward: @Sendable (Int32) async -> Void = { [weak self] number in
            if number == SIGTERM || number == SIGINT { await self?.stopRequested() }
            continuation.yield(.signal(number))
        }
        switch signalSource {
        case .process:
            let signals = UnixSignals([SIGHUP, SIGTERM, SIGINT])
            signalTask = Task { for await number in signals { await forward(number) } }
        case .scripted(let stream):
            signalTask = Task { for await number in stream { await forward(number) } }
        }
    }

    // MARK: plumbing

    private func recover() async {
        let applier = Applier(options: ApplyOptions(settings: settings), logger: logger)
        do {
            let report = try await applier.recoverAtStartup()
            if !report.removedLeftovers.isEmpty {
                logger.notice("start-up: removed leftovers of an earlier run: \(report.removedLeftovers.joined(separator: ", "))")
            }
            if report.reloaded { logger.notice("start-up: reloaded nginx for a change an earlier run wrote but did not reload") }
            if report.restored { logger.warning("start-up: put back the last good site file after an unfinished check") }
        } catch {
            logger.error("start-up recovery failed (resyncs will retry): \(error)")
        }
    }

    private func startFeed(_ feed: SnapshotFeed) {
        self.feed = feed
        let continuation = events
        feedTasks = [
            Task { await feed.run() },
            Task { for await snapshot in feed.snapshots { continuation?.yield(.snapshot(snapshot)) } },
        ]
    }

    private func stopFeed() {
        for task in feedTasks { task.cancel() }
        feedTasks = []
        feed = nil
    }

    private func stop() {
        stopFeed()
        timer?.cancel()
        signalTask?.cancel()
        events?.finish()
    }

    /// One sleeping task for the earliest deadline; re-armed only when that deadline changes.
    private func armTimer() {
        let deadlines = [resyncAt, nextFullResync, nextWatchdog].compactMap { $0 }
        guard let deadline = deadlines.min() else { return }
        if deadline == timerDeadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        let continuation = events
        timer = Task { [weak self] in
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
            await self?.timerFired(deadline)
            continuation?.yield(.tick)
        }
    }

    private func timerFired(_ deadline: ContinuousClock.Instant) {
        if timerDeadline == deadline { timer = nil; timerDeadline = nil }
    }

    /// While a resync runs the loop cannot ping; this does, but no longer than the check and reload commands
    /// may take, so that a truly hung apply still stops the pings and systemd's watchdog acts.
    private func startKeepalive() -> Task<Void, Never>? {
        guard let interval = notifier.watchdogInterval else { return nil }
        let notifier = self.notifier
        let until = clock.now + settings.commandTimeout * 2 + .seconds(10)
        return Task {
            while ContinuousClock.now < until {
                do { try await Task.sleep(for: interval) } catch { return }
                notifier.watchdog()
            }
        }
    }

    private func wallClockSeconds() -> Double {
        let now = realtimeNow()
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
