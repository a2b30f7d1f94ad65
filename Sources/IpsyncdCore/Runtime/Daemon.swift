import Logging
import K8sWatch
import NginxApply
import Synchronization

import Glibc
import Posix

/// `ipsyncd run`: watch → coalesce → resync → journal line, systemd status, metrics; a full resync every
/// `resync_interval`; backoff after a failed check or reload; SIGHUP reloads the config, SIGTERM/SIGINT stop.
/// The decisions are the `Scheduler`'s; this shell runs it in one task group whose children are the signals,
/// the watch, the timers and the apply in progress, and carries out its actions.
package struct Daemon: Sendable {
    /// Where signals come from: the process (the binary) or a script (tests, which must not signal themselves).
    enum SignalSource: Sendable {
        case process
        case scripted(AsyncStream<Int32>)
    }

    fileprivate let settings: Settings
    fileprivate let logger: Logger
    fileprivate let dryRun: Bool
    fileprivate let notifier: SystemdNotifier
    fileprivate let makeSource: @Sendable (Settings) throws(K8sError) -> any ServiceSource
    private let signalSource: SignalSource
    /// How long an in-flight apply may go on after SIGTERM before it is abandoned (exit within 5 s).
    private let stopGrace: Duration

    /// `dryRun`: log the diff each resync would apply; never write a file or run the check or reload command.
    package init(settings: Settings, logger: Logger, dryRun: Bool = false) {
        let environment = ProcessEnvironment.current
        self.init(settings: settings, logger: logger, dryRun: dryRun, notifier: SystemdNotifier(environment: environment),
                  signals: .process, stopGrace: .seconds(4)) { settings throws(K8sError) in
            try settings.kubernetesSource(environment: environment)
        }
    }

    init(settings: Settings, logger: Logger, dryRun: Bool, notifier: SystemdNotifier, signals: SignalSource,
         stopGrace: Duration, makeSource: @escaping @Sendable (Settings) throws(K8sError) -> any ServiceSource) {
        self.settings = settings
        self.logger = logger
        self.dryRun = dryRun
        self.notifier = notifier
        self.signalSource = signals
        self.stopGrace = stopGrace
        self.makeSource = makeSource
    }

    /// Runs until SIGTERM or SIGINT (exit code 0), or until the start fails (78, EX_CONFIG: no usable kubeconfig).
    package func run() async -> Int32 {
        // Before anything else: from here on SIGTERM and SIGHUP are events, not the default actions.
        let processSignals: UnixSignals? = if case .process = signalSource { UnixSignals([SIGHUP, SIGTERM, SIGINT]) } else { nil }
        // The peak resident memory is the largest of the start-up's stages, not their sum: what the loader, the
        // argument parser and the settings file touched is released here, the kubeconfig's below.
        if releasesMemory { ResidentMemory.release(startUp: true) }
        notifier.status("starting")
        logger.info("starting: site \(settings.site), namespace \(settings.namespace), routes \(settings.routes.map(\.description).joined(separator: " "))\(dryRun ? " (dry run: nothing is written)" : "")")
        if !dryRun {
            // Recovery may reload nginx (an earlier run's unconfirmed swap): keep systemd's watchdog fed meanwhile.
            await withWatchdogKeepalive { await recover() }
        }
        let source: any ServiceSource
        do { source = try makeSource(settings) } catch {
            logger.critical("cannot start: \(error)")
            notifier.stopping(status: "cannot start: \(error)")
            return ExitStatus.config
        }
        logger.info("watching \(settings.namespace) via \(source.name)")
        // Start-up (arguments, settings, kubeconfig, recovery) is done: its pages need not stay mapped while the
        // first LIST and resync touch theirs, so the peak is the larger of the two, not their sum.
        if releasesMemory { ResidentMemory.release(startUp: true) }

        let (inputs, input) = AsyncStream<DaemonLoop.Input>.makeStream()
        // Discarding: a daemon adds a child per timer and per apply for as long as it runs; none is kept.
        return await withDiscardingTaskGroup { group in
            group.addTask { [signalSource] in
                switch signalSource {
                case .process: for await number in processSignals! { input.yield(.signal(number)) }
                case .scripted(let stream): for await number in stream { input.yield(.signal(number)) }
                }
            }
            var loop = DaemonLoop(daemon: self, input: input, timing: timing(settings))
            loop.start(source, in: &group)
            let code = await loop.run(inputs, in: &group)
            // Every child ends on cancellation: the watch, the signals, the timers, an abandoned apply's wait.
            group.cancelAll()
            return code
        }
    }

    /// Only the binary returns memory to the kernel when idle (tests share one process).
    fileprivate var releasesMemory: Bool {
        if case .process = signalSource { true } else { false }
    }

    fileprivate func timing(_ settings: Settings) -> Scheduler<ContinuousClock.Instant>.Timing {
        .init(settle: settings.settle, minReloadInterval: settings.minReloadInterval,
              resyncInterval: settings.resyncInterval, watchdogInterval: notifier.watchdogInterval,
              applyWatchdogLimit: settings.commandTimeout * 2 + .seconds(10), stopGrace: stopGrace)
    }

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

    /// Pings the watchdog while `operation` runs, but no longer than the check and reload commands may take.
    private func withWatchdogKeepalive(_ operation: () async -> Void) async {
        guard let interval = notifier.watchdogInterval else { return await operation() }
        let notifier = self.notifier
        let until = ContinuousClock.now + settings.commandTimeout * 2 + .seconds(10)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while ContinuousClock.now < until {
                    do { try await Task.sleep(for: interval) } catch { return }
                    notifier.watchdog()
                }
            }
            await operation()
            group.cancelAll()
        }
    }
}

/// The shell's state between events: the settings in force, the watch, the armed timers, what goes to
/// systemd and the metrics file. Lives inside `Daemon.run`'s task group.
private struct DaemonLoop {
    enum Input: Sendable {
        /// `source`: which watch sent it (one replaced by SIGHUP may still deliver a last one).
        case snapshot(ServiceSnapshot, source: Int)
        case signal(Int32)
        case timer(ContinuousClock.Instant)
        case applied(ResyncResult)
    }

    let logger: Logger
    let dryRun: Bool
    let notifier: SystemdNotifier
    let makeSource: @Sendable (Settings) throws(K8sError) -> any ServiceSource
    let releasesMemory: Bool
    let daemon: Daemon
    let input: AsyncStream<Input>.Continuation
    var settings: Settings
    var resyncer: Resyncer
    var scheduler: Scheduler<ContinuousClock.Instant>
    var metrics: MetricsFile?
    var watch: (any ServiceWatch)?
    var watchGeneration = 0
    var stopWatch: AsyncStream<Void>.Continuation?
    var armed: Set<ContinuousClock.Instant> = []
    var lastResult: ResyncResult?
    var lastWarnings: [String] = []
    var lastMetricsError: String?

    init(daemon: Daemon, input: AsyncStream<Input>.Continuation, timing: Scheduler<ContinuousClock.Instant>.Timing) {
        self.daemon = daemon
        self.input = input
        settings = daemon.settings
        logger = daemon.logger
        dryRun = daemon.dryRun
        notifier = daemon.notifier
        makeSource = daemon.makeSource
        releasesMemory = daemon.releasesMemory
        resyncer = Resyncer(settings: settings, logger: logger)
        metrics = settings.metricsFile.map(MetricsFile.init(path:))
        scheduler = Scheduler(timing: timing, now: .now)
    }

    mutating func run(_ inputs: AsyncStream<Input>, in group: inout DiscardingTaskGroup) async -> Int32 {
        arm(in: &group)
        for await next in inputs {
            let event: Scheduler<ContinuousClock.Instant>.Event
            switch next {
            case .snapshot(let snapshot, let source):
                guard source == watchGeneration else { continue }
                event = .snapshot(snapshot)
            case .timer(let instant):
                armed.remove(instant)
                event = .timer
            case .applied(let result):
                lastResult = result
                event = .applyFinished(failed: result.outcome == .failed, touchedReload: result.touchedReload,
                                       jitter: Double.random(in: 0..<1))
            case .signal(let number) where number == SIGHUP:
                guard let newSource = reloadSettings(in: &group) else { continue }
                event = .settingsChanged(daemon.timing(settings), newSource: newSource)
            case .signal(let number) where number == SIGTERM || number == SIGINT:
                event = .stop(signal: UnixSignals.name(number))
            case .signal:
                continue
            }
            for action in scheduler.handle(event, at: .now) {
                if let code = await perform(action, in: &group) { return code }
            }
            arm(in: &group)
        }
        return 0
    }

    /// Carries out one action; an exit code ends the loop.
    private mutating func perform(_ action: Scheduler<ContinuousClock.Instant>.Action,
                                  in group: inout DiscardingTaskGroup) async -> Int32? {
        switch action {
        case .apply(let snapshot):
            let resyncer = self.resyncer, dryRun = self.dryRun, input = self.input
            let trace = PhaseTrace()
            if snapshot.receivedAt > 0 { trace.mark(.event, at: snapshot.receivedAt) }
            trace.mark(.settled)
            group.addTask {
                let result = await awaitUnlessCancelled { await resyncer.resync(snapshot: snapshot, dryRun: dryRun, trace: trace) }
                if let result { input.yield(.applied(result)) }
            }
        case .relist:
            await watch?.relist()
            logger.debug("resync_interval: relist and resync")
        case .pingWatchdog:
            notifier.watchdog()
        case .report(let retryIn, let ready):
            if let lastResult { await report(lastResult, retryIn: retryIn, ready: ready) }
            if releasesMemory { releaseMemoryLater(startUp: ready, in: &group) }
        case .announceStop(let signal):
            logger.notice("stopping on \(signal)")
            notifier.stopping(status: "stopping on \(signal)")
        case .abandonApply(let grace):
            logger.warning("stopping: the apply in progress did not finish within \(ResyncLine.format(grace)); exiting without waiting for it")
            notifier.stopping(status: "stopping; an apply in progress was abandoned")
        case .exit(let code):
            stopWatch?.finish()
            return code
        }
        return nil
    }

    /// The journal line, the warnings when they changed, READY (once) or STATUS, the metrics file.
    private mutating func report(_ result: ResyncResult, retryIn: Duration?, ready: Bool) async {
        logResync(result, logger: logger, retryIn: retryIn, checkCommand: settings.checkCommand)
        if result.outcome == .applied { logger.debug("resync.trace \(result.trace.text)") }
        if result.warnings != lastWarnings {
            for warning in result.warnings { logger.warning("\(warning)") }
            lastWarnings = result.warnings
        }
        let line = ResyncLine(result, retryIn: nil, checkCommand: settings.checkCommand).message
        var status = String(line.split(separator: "\n").first ?? "")
        if status.count > 200 { status = String(status.prefix(199)) + "…" }
        if ready { notifier.ready(status: status) } else { notifier.status(status) }
        await writeMetrics(result)
    }

    /// Going idle: the code and data pages start-up or the resync touched need not stay mapped (not in tests,
    /// which share one process). A second later, so that the release (smaps read, a madvise per mapping) does
    /// not compete with nginx's new workers for the CPU while they start serving the new address.
    private func releaseMemoryLater(startUp: Bool, in group: inout DiscardingTaskGroup) {
        group.addTask {
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            ResidentMemory.release(startUp: startUp)
        }
    }

    private mutating func writeMetrics(_ result: ResyncResult) async {
        guard var metrics else { return }
        metrics.record(result, at: wallClockSeconds())
        if let watch { metrics.watchReconnects = await watch.reconnects() }
        self.metrics = metrics
        do {
            try metrics.write()
            lastMetricsError = nil
        } catch {
            // Once per distinct error, not once per resync.
            if lastMetricsError != error.description { logger.warning("\(error)") }
            lastMetricsError = error.description
        }
    }

    /// SIGHUP: the config file and the same flags again; an invalid config is logged and the old one kept.
    /// Returns whether the Services now come from a new watch; nil when nothing was reloaded.
    private mutating func reloadSettings(in group: inout DiscardingTaskGroup) -> Bool? {
        let new: Settings
        do { new = try settings.reloaded() } catch {
            logger.error("SIGHUP: config not reloaded, keeping the running settings: \(error)")
            return nil
        }
        let newSource = !new.sameSource(as: settings)
        if newSource {
            let replacement: any ServiceSource
            do { replacement = try makeSource(new) } catch {
                logger.error("SIGHUP: config not reloaded, keeping the running settings: \(error)")
                return nil
            }
            stopWatch?.finish()
            start(replacement, in: &group)
            logger.info("watching \(new.namespace) via \(replacement.name)")
        }
        if new.logFormat != settings.logFormat || new.logLevel != settings.logLevel {
            logger.warning("SIGHUP: log_format and log_level take effect at the next start")
        }
        settings = new
        resyncer = Resyncer(settings: new, logger: logger)
        if new.metricsFile != metrics?.path { metrics = new.metricsFile.map(MetricsFile.init(path:)) }
        logger.notice("SIGHUP: config reloaded\(new.configFile.map { " from \($0)" } ?? " (built-in defaults and flags)")")
        return newSource
    }

    /// The source's watch as one child of the group: it runs until `stopWatch` is finished or the group is
    /// cancelled.
    mutating func start(_ source: any ServiceSource, in group: inout DiscardingTaskGroup) {
        let watch = source.watch(logger: logger)
        self.watch = watch
        watchGeneration += 1
        let generation = watchGeneration, input = self.input
        let (stop, stopper) = AsyncStream<Void>.makeStream()
        stopWatch = stopper
        group.addTask {
            await withTaskGroup(of: Void.self) { children in
                children.addTask { await watch.run() }
                children.addTask {
                    for await snapshot in watch.snapshots { input.yield(.snapshot(snapshot, source: generation)) }
                }
                for await _ in stop {}
                children.cancelAll()
            }
        }
    }

    /// A timer child for the scheduler's next wake-up, unless one already fires at or before it (a timer that
    /// fires early is harmless: the scheduler does what is due and names the next instant).
    private mutating func arm(in group: inout DiscardingTaskGroup) {
        guard let wake = scheduler.nextWake else { return }
        if let earliest = armed.min(), earliest <= wake { return }
        armed.insert(wake)
        let input = self.input
        group.addTask {
            do { try await Task.sleep(until: wake, clock: .continuous) } catch { return }
            input.yield(.timer(wake))
        }
    }

    private func wallClockSeconds() -> Double {
        let now = Posix.realtimeNow()
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// Awaits `operation`, but returns nil as soon as the calling task is cancelled: an apply stuck in a command
/// cannot be interrupted, and a stop must not wait for it past the grace. The operation's task is cancelled
/// then and left to finish on its own (its command is killed by its timeout, or with the process). The one
/// task that may outlive the group, and only after the group has ended.
func awaitUnlessCancelled<T: Sendable>(_ operation: @escaping @Sendable () async -> T) async -> T? {
    let outcome = FirstResult<T>()
    let task = Task { outcome.resume(with: await operation()) }
    return await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in outcome.wait(continuation) }
    } onCancel: {
        task.cancel()
        outcome.resume(with: nil)
    }
}

/// The first of several results wins; the continuation is resumed exactly once.
private final class FirstResult<T: Sendable>: Sendable {
    private struct State {
        var result: T??
        var continuation: CheckedContinuation<T?, Never>?
    }
    private let state = Mutex(State())

    func wait(_ continuation: CheckedContinuation<T?, Never>) {
        let ready: T?? = state.withLock { state in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }

    func resume(with value: T?) {
        let waiting: CheckedContinuation<T?, Never>? = state.withLock { state in
            guard state.result == nil else { return nil }
            state.result = .some(value)
            defer { state.continuation = nil }
            return state.continuation
        }
        waiting?.resume(returning: value)
    }
}
