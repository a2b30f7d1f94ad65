import K8sWatch
import Logging

/// Where the daemon's Services come from: a `ServiceWatcher` on the Kubernetes API, or a scripted stream in
/// tests. `run` lists and watches until its task is cancelled.
struct SnapshotFeed: Sendable {
    /// For log lines: "kubeconfig /etc/rancher/k3s/k3s.yaml (context default) → https://127.0.0.1:6443".
    var description: String
    var snapshots: AsyncStream<ServiceSnapshot>
    var run: @Sendable () async -> Void
    var relist: @Sendable () async -> Void
    var reconnects: @Sendable () async -> Int

    /// The watcher for the routed Services, with credentials found as DESIGN §4 says.
    static func kubernetes(settings: Settings, environment: [String: String],
                           logger: Logger) throws(K8sError) -> SnapshotFeed {
        let credentials = try KubeConfigLoader.load(path: settings.kubeconfig, context: settings.context,
                                                    environment: environment)
        let watcher = ServiceWatcher(client: APIClient(credentials: credentials, timeouts: settings.apiTimeouts), namespace: settings.namespace,
                                     names: Set(settings.routes.map(\.service)), logger: logger)
        return SnapshotFeed(description: "\(credentials.source) → \(credentials.server)",
                            snapshots: watcher.snapshots,
                            run: { await watcher.run() },
                            relist: { await watcher.relist() },
                            reconnects: { await watcher.health.reconnects })
    }
}

extension Settings {
    /// The settings that decide what is watched and how: a change needs a new watcher.
    func sameFeed(as other: Settings) -> Bool {
        kubeconfig == other.kubeconfig && context == other.context && namespace == other.namespace
            && Set(routes.map(\.service)) == Set(other.routes.map(\.service))
            && apiTimeouts == other.apiTimeouts
    }

    /// The API client's clocks (`api_timeout`, `exec_timeout`, `watch_silence`).
    var apiTimeouts: APITimeouts {
        APITimeouts(request: apiTimeout, execPlugin: execTimeout, watchSilence: watchSilence)
    }
}
