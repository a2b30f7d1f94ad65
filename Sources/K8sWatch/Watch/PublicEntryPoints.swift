import Logging

extension ServiceWatcher {
    /// Watches the named Services of `namespace` through `client`.
    public init(client: APIClient, namespace: String, names: Set<String>, logger: Logger) {
        var timing = WatchTiming()
        timing.bookmarkSilence = client.timeouts.bookmarkSilence
        self.init(api: client, namespace: namespace, names: names, logger: logger, timing: timing)
    }
}

/// One LIST, as a snapshot of the named Services (the one-shot commands `sync`, `status`, `check`, `render`).
public func fetchSnapshot(client: APIClient, namespace: String, names: Set<String>) async throws(K8sError) -> ServiceSnapshot {
    try await fetchSnapshot(api: client, namespace: namespace, names: names)
}

/// One LIST + one short WATCH: proves both verbs are allowed (for `ipsyncd check`). A refusal names
/// the verb: "cannot watch services in namespace flowmaster: …".
public func probeAccess(client: APIClient, namespace: String) async throws(K8sError) {
    try await probeAccess(api: client, namespace: namespace)
}
