import Foundation
public import K8sWatch
public import Logging

/// A `ServiceSource` the test drives: `yield` sends a snapshot down the watch, `oneShot` answers
/// `snapshot()`, `failure` makes every call fail (as an unreachable API or unusable kubeconfig would).
public final class ScriptedSource: ServiceSource, @unchecked Sendable {
    public let name: String
    private let oneShot: ServiceSnapshot?
    private let failure: K8sError?
    private let stream: AsyncStream<ServiceSnapshot>
    private let continuation: AsyncStream<ServiceSnapshot>.Continuation
    private let lock = NSLock()
    private var relistCount = 0

    public init(_ oneShot: ServiceSnapshot? = nil, name: String = "scripted") {
        self.name = name
        self.oneShot = oneShot
        failure = nil
        (stream, continuation) = AsyncStream.makeStream()
    }

    public init(failing error: K8sError, name: String) {
        self.name = name
        oneShot = nil
        failure = error
        (stream, continuation) = AsyncStream.makeStream()
    }

    /// Sends a snapshot down the watch.
    public func yield(_ snapshot: ServiceSnapshot) { continuation.yield(snapshot) }
    /// How often the daemon asked to list again.
    public var relists: Int { lock.withLock { relistCount } }

    public func snapshot() async throws(K8sError) -> ServiceSnapshot {
        if let failure { throw failure }
        return oneShot ?? ServiceSnapshot(services: [:], resourceVersion: "0")
    }

    public func probeAccess() async throws(K8sError) {
        if let failure { throw failure }
    }

    public func watch(logger: Logger) -> any ServiceWatch { Watch(source: self) }

    private struct Watch: ServiceWatch {
        let source: ScriptedSource
        var snapshots: AsyncStream<ServiceSnapshot> { source.stream }
        func run() async {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
        func relist() async { source.lock.withLock { source.relistCount += 1 } }
        func reconnects() async -> Int { 0 }
    }
}
