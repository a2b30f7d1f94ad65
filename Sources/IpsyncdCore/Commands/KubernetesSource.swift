import K8sWatch
import Logging

extension Settings {
    /// The Services as these settings say (kubeconfig search order of docs/design.md §4). The daemon fails its start
    /// with the error; the one-shot commands report it as an unreadable API (`UnusableSource`).
    func kubernetesSource(environment: [String: String]) throws(K8sError) -> KubernetesSource {
        try KubernetesSource.load(kubeconfig: kubeconfig, context: context, environment: environment,
                                  namespace: namespace, names: Set(routes.map(\.service)))
    }

    /// The settings that decide what is watched and how: a change needs a new watch.
    func sameSource(as other: Settings) -> Bool {
        kubeconfig == other.kubeconfig && context == other.context && namespace == other.namespace
            && Set(routes.map(\.service)) == Set(other.routes.map(\.service))
    }
}

/// A source whose kubeconfig could not be loaded: every call fails with that error.
struct UnusableSource: ServiceSource {
    var error: K8sError
    var name: String

    func snapshot() async throws(K8sError) -> ServiceSnapshot { throw error }
    func probeAccess() async throws(K8sError) { throw error }
    func watch(logger: Logger) -> any ServiceWatch { NoWatch() }

    private struct NoWatch: ServiceWatch {
        var snapshots: AsyncStream<ServiceSnapshot> { AsyncStream { $0.finish() } }
        func run() async {}
        func relist() async {}
        func reconnects() async -> Int { 0 }
    }
}

extension ServiceSource {
    /// One LIST as a `Result`, for the commands that report its failure beside their other findings.
    func snapshotResult() async -> Result<ServiceSnapshot, K8sError> {
        do throws(K8sError) { return .success(try await snapshot()) } catch { return .failure(error) }
    }

    func probeResult() async -> Result<Void, K8sError> {
        do throws(K8sError) { return .success(try await probeAccess()) } catch { return .failure(error) }
    }
}
