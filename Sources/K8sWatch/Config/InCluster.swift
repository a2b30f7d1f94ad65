import Posix
/// Credentials of the pod's service account (client-go's InClusterConfig plus clientcmd's namespace rule).
enum InCluster {
    static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    static func isInCluster(_ environment: [String: String]) -> Bool {
        environment["KUBERNETES_SERVICE_HOST"]?.isEmpty == false && environment["KUBERNETES_SERVICE_PORT"]?.isEmpty == false
    }

    static func load(environment: [String: String], directory: String) throws(K8sError) -> ClusterCredentials {
        let host = environment["KUBERNETES_SERVICE_HOST"] ?? ""
        let port = environment["KUBERNETES_SERVICE_PORT"] ?? ""
        let server = "https://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        let token = directory + "/token", ca = directory + "/ca.crt"
        for (what, path) in [("token", token), ("CA certificate", ca)] where !Posix.isReadable(path) {
            throw K8sError(code: .inCluster, message: """
                in-cluster (KUBERNETES_SERVICE_HOST is set) but the service-account \(what) \(path) cannot be read: \
                \(Posix.lastError()); mount the service account token or pass --kubeconfig
                """)
        }
        var namespace = environment["POD_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
        if namespace == nil, let bytes = try? Posix.read(directory + "/namespace", limit: 1 << 20) {
            let text = ConfigText.trimmedText(bytes)
            namespace = text.isEmpty ? nil : text
        }
        var credentials = ClusterCredentials(server: server, namespace: namespace ?? "default",
                                             source: "in-cluster service account \(directory)")
        credentials.certificateAuthority = .file(ca)
        credentials.tokenFile = token
        return credentials
    }
}
