import Foundation
import InMemoryLogging
import Synchronization
import Testing
import K8sWatch

// Test doubles for the watcher (real code: the watcher runs against them unchanged). They use K8sWatch's
// package seams (ServiceAPI, WatchTiming, ServiceWatcher.init(api:…)), so their own surface is `package` too.

/// A `ServiceAPI` that answers from a script and records every request. When a script runs out,
/// the request hangs until its task is cancelled, so a test can look at the watcher at rest.
package actor ScriptedAPI: ServiceAPI {
    package enum Reply: Sendable {
        /// `get`: a 200 body.
        case body(String)
        /// `get` or `stream`: a non-2xx answer.
        case fail(K8sError)
        /// `stream`: these lines, then the end.
        case lines([String], end: End)
        /// `get`: no answer until the request is cancelled.
        case hang
    }
    package enum End: Sendable { case clean, error(K8sError), hang }
    package struct Request: Sendable, CustomStringConvertible {
        package var watch: Bool
        package var query: [String: String]
        /// The read deadline a watch was given.
        package var idleTimeout: Duration? = nil
        package var description: String { (watch ? "watch " : "list ") + query.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: "&") }
    }

    private var lists: [Reply]
    private var watches: [Reply]
    private var open: [AsyncThrowingStream<[UInt8], any Error>.Continuation] = []
    package private(set) var requests: [Request] = []

    package init(lists: [Reply], watches: [Reply]) {
        self.lists = lists
        self.watches = watches
    }

    package func get(_ path: String, query: [(String, String)]) async throws(K8sError) -> [UInt8] {
        requests.append(Request(watch: false, query: Dictionary(query, uniquingKeysWith: { $1 })))
        guard !lists.isEmpty else { return try await hang() }
        switch lists.removeFirst() {
        case .body(let text): return Array(text.utf8)
        case .fail(let error): throw error
        case .hang: return try await hang()
        case .lines: fatalError("a list answers with .body or .fail")
        }
    }

    package func stream(_ path: String, query: [(String, String)], idleTimeout: Duration)
        async throws(K8sError) -> AsyncThrowingStream<[UInt8], any Error> {
        requests.append(Request(watch: true, query: Dictionary(query, uniquingKeysWith: { $1 }), idleTimeout: idleTimeout))
        guard !watches.isEmpty else { return try await hang() }
        switch watches.removeFirst() {
        case .body, .hang: fatalError("a watch answers with .lines or .fail")
        case .fail(let error): throw error
        case .lines(let lines, let end):
            let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
            for line in lines { continuation.yield(Array(line.utf8)) }
            switch end {
            case .clean: continuation.finish()
            case .error(let error): continuation.finish(throwing: error)
            case .hang: open.append(continuation)
            }
            return stream
        }
    }

    private func hang<T>() async throws(K8sError) -> T {
        try? await Task.sleep(for: .seconds(3600))
        throw K8sError(code: .cancelled, message: "cancelled")
    }
}

// MARK: - The harness

/// A ServiceWatcher running against a ScriptedAPI, with its logs and the delays it asked for recorded.
package struct Harness {
    package let api: ScriptedAPI
    package let watcher: ServiceWatcher
    package let logs = InMemoryLogHandler()
    package let delays = DelayRecorder()
    package let run: Task<Void, Never>

    package init(names: Set<String> = ["api"], lists: [ScriptedAPI.Reply], watches: [ScriptedAPI.Reply],
         configure: (inout WatchTiming) -> Void = { _ in }) {
        api = ScriptedAPI(lists: lists, watches: watches)
        var timing = WatchTiming()
        timing.random = { 0 }
        let delays = self.delays
        timing.sleep = { delay in
            delays.record(delay)
            try await Task.sleep(for: .milliseconds(1))
        }
        configure(&timing)
        watcher = ServiceWatcher(api: api, namespace: "flowmaster", names: names, logger: logs.logger, timing: timing)
        let watcher = self.watcher
        run = Task { await watcher.run() }
    }

    /// The requests so far, once there are at least `count`; else the test stops here (its caller indexes them).
    package func requests(_ count: Int) async throws -> [ScriptedAPI.Request] {
        try #require(await eventually { await api.requests.count >= count }, "\(count) requests")
        return await api.requests
    }

    package func stop() async {
        run.cancel()
        await run.value
    }
}
