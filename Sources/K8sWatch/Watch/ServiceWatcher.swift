import Logging
import Posix

/// Keeps a live view of some Services of one namespace, like client-go's Reflector: LIST, then
/// WATCH from the list's resourceVersion; a clean close re-watches from the last resourceVersion,
/// 410 Gone relists, 429 waits Retry-After, anything else backs off and relists.
package actor ServiceWatcher {
    /// A new snapshot after the first LIST and then whenever a watched Service changes. The newest
    /// snapshot waits for a slow consumer; older ones are dropped. One consumer; it finishes when
    /// `run()` ends.
    package nonisolated let snapshots: AsyncStream<ServiceSnapshot>
    package private(set) var health = WatchHealth()

    private let api: any ServiceAPI
    private let path: String
    private let names: Set<String>
    private let decoder: ServiceDecoder
    private let timing: WatchTiming
    private let logger: Logger
    private let continuation: AsyncStream<ServiceSnapshot>.Continuation

    private var store: [String: ServiceInfo] = [:]
    private var published: [String: ServiceInfo]?
    private var resourceVersion = ""
    private var backoff: Backoff
    /// Failed rounds since a watch was last open, the code last logged as "watch lost", and when the
    /// trouble was last logged (a trouble that lasts is logged again every `timing.repeatWarning`).
    private var failures = 0
    private var loggedLoss: Trouble?
    private var lastWarning: ContinuousClock.Instant?
    /// The server sent a BOOKMARK: its watches then get the short bookmark-derived read deadline.
    private var serverSendsBookmarks = false
    /// A 410 right after the relist it caused means the server keeps answering 410: back off.
    private var goneWithoutProgress = false
    private var relistRequested = false
    private var currentWatch: Task<WatchOutcome, Never>?
    private var currentList: Task<Result<ServiceDecoder.List, K8sError>, Never>?

    package init(api: any ServiceAPI, namespace: String, names: Set<String>, logger: Logger, timing: WatchTiming = WatchTiming()) {
        self.api = api
        self.path = "/api/v1/namespaces/\(namespace)/services"
        self.names = names
        self.decoder = ServiceDecoder(names: names)
        self.timing = timing
        self.backoff = timing.backoff
        var logger = logger
        logger[metadataKey: "namespace"] = "\(namespace)"
        self.logger = logger
        (snapshots, continuation) = AsyncStream.makeStream(of: ServiceSnapshot.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for a fresh LIST (the resync interval); a change found there is published. A watch or a
    /// LIST in progress is abandoned (a stuck request must not outlive the resync that replaces it).
    package func relist() {
        relistRequested = true
        currentWatch?.cancel()
        currentList?.cancel()
    }

    /// Lists and watches until the task is cancelled; never returns early, never throws.
    package func run() async {
        var step = Step.list(resourceVersion: nil)
        rounds: while !Task.isCancelled {
            if relistRequested {
                relistRequested = false
                step = .list(resourceVersion: nil)
            }
            switch step {
            case .list(let version):
                step = await list(resourceVersion: version)
            case .watch:
                step = await watch()
            case .wait(let delay, let then):
                do { try await timing.sleep(delay) } catch { break rounds }
                step = then.step
            }
        }
        health.connected = false
        continuation.finish()
    }

    // MARK: - Rounds

    private enum Step {
        case list(resourceVersion: String?)
        case watch
        case wait(Duration, then: Next)
    }

    /// Where to go after a wait (a separate enum keeps `Step` non-recursive).
    private enum Next {
        case list, watch
        var step: Step { self == .list ? .list(resourceVersion: nil) : .watch }
    }

    private enum WatchOutcome: Sendable {
        case closed(events: Int)
        case failed(K8sError, opened: Bool, events: Int)
        case interrupted
    }

    /// LIST with no resourceVersion is a consistent read: fresh data, which ipsyncd wants. After a
    /// 410 it lists not-older-than the last resourceVersion (client-go), then without one on 410.
    private func list(resourceVersion version: String?) async -> Step {
        health.lists += 1
        let query = version.map { [("resourceVersion", $0)] } ?? []
        let list: ServiceDecoder.List
        // A task of its own so that relist() can abandon a LIST that hangs without ending run().
        let (api, path, decoder) = (self.api, self.path, self.decoder)
        let task = Task { () async -> Result<ServiceDecoder.List, K8sError> in
            do throws(K8sError) {
                return .success(try await listAll(api: api, path: path, query: query, decoder: decoder))
            } catch {
                return .failure(error)
            }
        }
        currentList = task
        let result = await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
        currentList = nil
        switch result {
        case .success(let answer): list = answer
        case .failure(let error):
            if Task.isCancelled { return .list(resourceVersion: nil) }   // run() ends; nothing to log
            if task.isCancelled { return .list(resourceVersion: nil) }   // relist(): run() starts a fresh LIST
            if error.code == .gone, version != nil { return .list(resourceVersion: nil) }
            return fail(error, then: .list, delay: error.code == .tooManyRequests ? error.retryAfter : nil)
        }
        // Not "restored": only an open watch is (a LIST allowed with the watch denied is still trouble).
        resourceVersion = list.resourceVersion
        store = list.services
        publishIfChanged()
        return .watch
    }

    private func watch() async -> Step {
        let seconds = Int.random(in: timing.watchTimeoutSeconds)
        let query = [("watch", "true"), ("resourceVersion", resourceVersion), ("allowWatchBookmarks", "true"),
                     ("timeoutSeconds", String(seconds))]
        // Bookmarks come about once a minute from a server that sends them: a longer silence is a dead
        // connection. Bookmarks are optional for a server, so without them the idle limit outlasts the watch.
        // The bookmark deadline only ever shortens the limit.
        let whole = .seconds(seconds) + timing.idleGrace
        let idle = serverSendsBookmarks ? min(timing.bookmarkSilence, whole) : whole
        health.watches += 1
        let started = ContinuousClock.now
        // A task of its own so that relist() can end this watch without ending run().
        let task = Task { await self.consume(query: query, idleTimeout: idle) }
        currentWatch = task
        let outcome = await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
        currentWatch = nil
        health.connected = false
        let short = ContinuousClock.now - started < timing.shortWatch

        switch outcome {
        case .interrupted:
            return relistRequested ? .list(resourceVersion: nil) : .watch
        case .closed(let events) where events == 0 && short:
            return fail(K8sError(code: .connection, message: "watch \(path) ended after less than \(timing.shortWatch) with no event"),
                        then: .watch)
        case .closed:
            restored()
            return .watch
        case .failed(let error, let opened, let events):
            switch error.code {
            case .gone:
                if goneWithoutProgress { return fail(error, then: .list) }
                goneWithoutProgress = true
                logger.info("watch \(path): resourceVersion \(resourceVersion) expired; relisting")
                return .list(resourceVersion: resourceVersion)
            case .tooManyRequests:
                return fail(error, then: .watch, delay: error.retryAfter)
            case .connection where opened && (events > 0 || !short):
                // A long-lived stream that broke is a close: resume from the last resourceVersion.
                logger.debug("watch \(path) broke: \(error); resuming from \(resourceVersion)")
                return .watch
            case .connection:
                return fail(error, then: .watch)
            default:
                return fail(error, then: .list)
            }
        }
    }

    /// Reads one watch stream to its end, applying its events.
    private func consume(query: [(String, String)], idleTimeout: Duration) async -> WatchOutcome {
        let stream: AsyncThrowingStream<[UInt8], any Error>
        do {
            stream = try await api.stream(path, query: query, idleTimeout: idleTimeout)
        } catch {
            return Task.isCancelled ? .interrupted : .failed(error, opened: false, events: 0)
        }
        health.connected = true
        restored()   // the API answered 2xx: whatever was wrong is over
        var events = 0
        do {
            for try await line in stream {
                if line.isEmpty { continue }
                let event = try decoder.event(line, source: path)
                events += 1
                if let error = apply(event) { return .failed(error, opened: true, events: events) }
            }
        } catch {
            if Task.isCancelled { return .interrupted }
            let failure = error as? K8sError ?? K8sError(code: .connection, message: "watch \(path): \(error)")
            return .failed(failure, opened: true, events: events)
        }
        return Task.isCancelled ? .interrupted : .closed(events: events)
    }

    /// Applies one event to the store; returns the error an ERROR event stands for.
    private func apply(_ event: WatchEvent) -> K8sError? {
        health.lastEventAt = .now
        if event.kind == .error {
            return K8sError(status: event.status ?? APIStatus(code: nil, reason: nil, message: nil),
                            httpStatus: nil, context: "watch \(path)")
        }
        if event.kind == .bookmark { serverSendsBookmarks = true }
        if let version = event.resourceVersion, !version.isEmpty { resourceVersion = version }
        goneWithoutProgress = false
        restored()
        guard let name = event.name, names.contains(name) else { return nil }
        switch event.kind {
        case .added, .modified: store[name] = event.service
        case .deleted: store[name] = nil
        case .bookmark, .error: return nil
        }
        publishIfChanged()
        return nil
    }

    private func publishIfChanged() {
        guard published != store else { return }
        published = store
        health.snapshots += 1
        continuation.yield(ServiceSnapshot(services: store, resourceVersion: resourceVersion,
                                            receivedAt: Posix.monotonicNanoseconds()))
    }

    // MARK: - Trouble

    /// Records a failed round and waits before `then`; logs only when the kind of trouble changes.
    private func fail(_ error: K8sError, then next: Next, delay: Duration? = nil) -> Step {
        health.lastError = error
        health.reconnects += 1
        failures += 1
        let wait = delay ?? backoff.next(now: .now, random: timing.random())
        let now = ContinuousClock.now
        if loggedLoss != Trouble(error.code) {
            loggedLoss = Trouble(error.code)
            lastWarning = now
            logger.warning("watch lost: \(error); retrying with backoff")
        } else if let lastWarning, now - lastWarning >= timing.repeatWarning {
            self.lastWarning = now
            logger.warning("watch still failing after \(failures) attempts: \(error); retrying with backoff")
        } else {
            logger.debug("watch still failing (attempt \(failures)): \(error); next try in \(wait)")
        }
        return .wait(wait, then: next)
    }

    /// What counts as the same trouble for logging: a connection that went silent and the connects
    /// that then time out or are refused are one network outage, not three.
    private enum Trouble: Equatable {
        case network
        case other(K8sError.Code)
        init(_ code: K8sError.Code) { self = code == .connection || code == .timeout ? .network : .other(code) }
    }

    /// A watch is open again (the API answered a watch with 2xx): the trouble is over.
    private func restored() {
        guard failures > 0 else { return }
        logger.notice("watch restored after \(failures) attempt\(failures == 1 ? "" : "s")")
        failures = 0
        loggedLoss = nil
        lastWarning = nil
        health.lastError = nil
    }
}
