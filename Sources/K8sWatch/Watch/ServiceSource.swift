public import Logging

/// Where the routed Services come from (docs/design.md §4): a watch for the daemon, one LIST for the one-shot
/// commands, and the access probe for `check`. `KubernetesSource` is the real one; tests script another.
public protocol ServiceSource: Sendable {
    /// For messages: "kubeconfig /etc/rancher/k3s/k3s.yaml (context default) → https://127.0.0.1:6443".
    var name: String { get }
    /// One LIST of the routed Services.
    func snapshot() async throws(K8sError) -> ServiceSnapshot
    /// One LIST and one short WATCH that must both be allowed. A refusal names the verb:
    /// "cannot watch services in namespace flowmaster: …".
    func probeAccess() async throws(K8sError)
    /// A list-and-watch of the routed Services; nothing is sent until it runs.
    func watch(logger: Logger) -> any ServiceWatch
}

/// A running list-and-watch: `run` until the task is cancelled; `snapshots` has the latest state.
public protocol ServiceWatch: Sendable {
    var snapshots: AsyncStream<ServiceSnapshot> { get }
    func run() async
    /// List again now (the periodic full resync).
    func relist() async
    /// Reconnects of the watch so far (metrics).
    func reconnects() async -> Int
}

/// The Kubernetes API as the source: one connection value (credentials loaded once, namespace, names).
public struct KubernetesSource: ServiceSource {
    package let credentials: ClusterCredentials
    package let namespace: String
    package let names: Set<String>
    private let client: APIClient

    package init(credentials: ClusterCredentials, namespace: String, names: Set<String>,
                timeouts: APITimeouts = APITimeouts()) {
        self.credentials = credentials
        self.namespace = namespace
        self.names = names
        client = APIClient(credentials: credentials, timeouts: timeouts)
    }

    /// The one place the kubeconfig is found and loaded (the search order of docs/design.md §4); its failure is
    /// the caller's to surface.
    public static func load(kubeconfig: String?, context: String?, environment: [String: String],
                            namespace: String, names: Set<String>,
                            timeouts: APITimeouts = APITimeouts()) throws(K8sError) -> KubernetesSource {
        let credentials = try KubeConfigLoader.load(path: kubeconfig, context: context, environment: environment)
        return KubernetesSource(credentials: credentials, namespace: namespace, names: names, timeouts: timeouts)
    }

    public var name: String { "\(credentials.source) → \(credentials.server)" }

    public func snapshot() async throws(K8sError) -> ServiceSnapshot {
        try await fetchSnapshot(api: client, namespace: namespace, names: names)
    }

    public func probeAccess() async throws(K8sError) {
        try await K8sWatch.probeAccess(api: client, namespace: namespace)
    }

    public func watch(logger: Logger) -> any ServiceWatch { watcher(logger: logger) }

    /// The concrete watcher, for callers that read its `health`.
    package func watcher(logger: Logger) -> ServiceWatcher {
        var timing = WatchTiming()
        timing.bookmarkSilence = client.timeouts.bookmarkSilence
        return ServiceWatcher(api: client, namespace: namespace, names: names, logger: logger, timing: timing)
    }
}

extension ServiceWatcher: ServiceWatch {
    package func reconnects() async -> Int { health.reconnects }
}
