import Foundation
import InMemoryLogging
import Synchronization
import Testing
import TestSupport
@testable import K8sWatch

// Test doubles for the K8sWatch suites (real code: the watcher runs against them unchanged). They use
// K8sWatch internals (ServiceAPI, WatchTiming), so they live in this target; the generic ones are in TestSupport.

/// A `ServiceAPI` that answers from a script and records every request. When a script runs out,
/// the request hangs until its task is cancelled, so a test can look at the watcher at rest.
actor ScriptedAPI: ServiceAPI {
    enum Reply: Sendable {
        /// `get`: a 200 body.
        case body(String)
        /// `get` or `stream`: a non-2xx answer.
        case fail(K8sError)
        /// `stream`: these lines, then the end.
        case lines([String], end: End)
    }
    enum End: Sendable { case clean, error(K8sError), hang }
    struct Request: Sendable, CustomStringConvertible {
        var watch: Bool
        var query: [String: String]
        var description: String { (watch ? "watch " : "list ") + query.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: "&") }
    }

    private var lists: [Reply]
    private var watches: [Reply]
    private var open: [AsyncThrowingStream<[UInt8], any Error>.Continuation] = []
    private(set) var requests: [Request] = []

    init(lists: [Reply], watches: [Reply]) {
        self.lists = lists
        self.watches = watches
    }

    func get(_ path: String, query: [(String, String)]) async throws(K8sError) -> [UInt8] {
        requests.append(Request(watch: false, query: Dictionary(query, uniquingKeysWith: { $1 })))
        guard !lists.isEmpty else { return try await hang() }
        switch lists.removeFirst() {
        case .body(let text): return Array(text.utf8)
        case .fail(let error): throw error
        case .lines: fatalError("a list answers with .body or .fail")
        }
    }

    func stream(_ path: String, query: [(String, String)], idleTimeout: Duration)
        async throws(K8sError) -> AsyncThrowingStream<[UInt8], any Error> {
        requests.append(Request(watch: true, query: Dictionary(query, uniquingKeysWith: { $1 })))
        guard !watches.isEmpty else { return try await hang() }
        switch watches.removeFirst() {
        case .body: fatalError("a watch answers with .lines or .fail")
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

struct Harness {
    let api: ScriptedAPI
    let watcher: ServiceWatcher
    let logs = InMemoryLogHandler()
    let delays = DelayRecorder()
    let run: Task<Void, Never>

    init(names: Set<String> = ["api"], lists: [ScriptedAPI.Reply], watches: [ScriptedAPI.Reply],
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

    func requests(_ count: Int) async -> [ScriptedAPI.Request] {
        #expect(await eventually { await api.requests.count >= count }, "\(count) requests")
        return await api.requests
    }

    func stop() async {
        run.cancel()
        await run.value
    }
}
