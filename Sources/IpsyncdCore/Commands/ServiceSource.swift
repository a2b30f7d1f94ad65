public import K8sWatch

/// Where the one-shot commands get the Services from: the Kubernetes API (`kubernetes(settings:)`),
/// or a fixed snapshot in tests.
public struct ServiceSource: Sendable {
    /// For messages: "kubeconfig /etc/rancher/k3s/k3s.yaml (context default) → https://127.0.0.1:6443".
    public var name: String
    /// One LIST of the routed Services.
    public var snapshot: @Sendable () async -> Result<ServiceSnapshot, K8sError>
    /// Proves that listing and watching Services is allowed (`check`).
    public var probe: @Sendable () async -> Result<Void, K8sError>

    public init(name: String, snapshot: @escaping @Sendable () async -> Result<ServiceSnapshot, K8sError>,
                probe: @escaping @Sendable () async -> Result<Void, K8sError>) {
        self.name = name
        self.snapshot = snapshot
        self.probe = probe
    }

    /// A source that always answers `snapshot` (tests, and `render` from a saved snapshot).
    public static func fixed(_ snapshot: ServiceSnapshot, name: String = "fixed snapshot") -> ServiceSource {
        ServiceSource(name: name, snapshot: { .success(snapshot) }, probe: { .success(()) })
    }

    /// A source whose every call fails with `error` (the kubeconfig could not be loaded).
    public static func failing(_ error: K8sError, name: String) -> ServiceSource {
        ServiceSource(name: name, snapshot: { .failure(error) }, probe: { .failure(error) })
    }
}
