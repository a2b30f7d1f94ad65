import K8sWatch

extension ServiceSource {
    /// The Services from the Kubernetes API, as the settings say (kubeconfig search order of DESIGN §4).
    public static func kubernetes(settings: Settings, environment: [String: String]) -> ServiceSource {
        let credentials: ClusterCredentials
        do {
            credentials = try KubeConfigLoader.load(path: settings.kubeconfig, context: settings.context,
                                                    environment: environment)
        } catch {
            return .failing(error, name: settings.kubeconfig.map { "kubeconfig \($0)" } ?? "the kubeconfig")
        }
        let client = APIClient(credentials: credentials, timeouts: settings.apiTimeouts)
        let namespace = settings.namespace
        let names = Set(settings.routes.map(\.service))
        return ServiceSource(
            name: "\(credentials.source) → \(credentials.server)",
            snapshot: {
                do throws(K8sError) { return .success(try await fetchSnapshot(client: client, namespace: namespace, names: names)) } catch {
                    return .failure(error)
                }
            },
            probe: {
                do throws(K8sError) { return .success(try await probeAccess(client: client, namespace: namespace)) } catch {
                    return .failure(error)
                }
            })
    }
}
