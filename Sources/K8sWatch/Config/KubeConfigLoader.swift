import FoundationEssentials
import Yams
import Posix

/// Finds and reads the kubeconfig (or the in-cluster service account) and resolves one context
/// into `ClusterCredentials`. Every error names the file and the key that is wrong.
package enum KubeConfigLoader {
    /// docs/design.md §4 search order: explicit path, $KUBECONFIG (merged), in-cluster, k3s, kubeadm, ~/.kube/config.
    package static func load(path: String?, context: String?, environment: [String: String]) throws(K8sError) -> ClusterCredentials {
        try load(path: path, context: context, environment: environment,
                 serviceAccountDirectory: InCluster.serviceAccountDirectory, wellKnownPaths: nil)
    }

    static let distributionPaths = ["/etc/rancher/k3s/k3s.yaml", "/etc/kubernetes/admin.conf"]

    /// `serviceAccountDirectory` and `wellKnownPaths` (k3s, kubeadm, home) are parameters for tests.
    static func load(path: String?, context: String?, environment: [String: String],
                     serviceAccountDirectory: String, wellKnownPaths: [String]?) throws(K8sError) -> ClusterCredentials {
        if let path, !path.isEmpty {
            guard Posix.exists(path) else {
                throw K8sError(code: .kubeconfigNotFound, message: "kubeconfig \(path) does not exist; check --kubeconfig")
            }
            return try resolve(files: [path], context: context, environment: environment)
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            let files = list.split(separator: ":").map(String.init)
            let existing = files.filter(Posix.exists)
            guard !existing.isEmpty else {
                throw K8sError(code: .kubeconfigNotFound,
                               message: "none of the files in KUBECONFIG exist: \(files.joined(separator: ", "))")
            }
            return try resolve(files: existing, context: context, environment: environment)
        }
        if InCluster.isInCluster(environment) {
            return try InCluster.load(environment: environment, directory: serviceAccountDirectory)
        }
        var candidates = wellKnownPaths ?? distributionPaths
        if wellKnownPaths == nil, let home = environment["HOME"], !home.isEmpty { candidates.append(home + "/.kube/config") }
        if let found = candidates.first(where: Posix.exists) {
            return try resolve(files: [found], context: context, environment: environment)
        }
        throw K8sError(code: .kubeconfigNotFound, message: """
            no kubeconfig found: pass --kubeconfig or set KUBECONFIG; not in a pod (KUBERNETES_SERVICE_HOST unset) \
            and none of \(candidates.joined(separator: ", ")) exists
            """)
    }

    /// Reads and merges `files` as kubectl does, then resolves one context.
    static func resolve(files: [String], context: String?, environment: [String: String]) throws(K8sError) -> ClusterCredentials {
        var merged = MergedKubeConfig()
        for file in files { merged.add(try parse(file: file), from: file) }
        return try merged.credentials(context: context, files: files, environment: environment)
    }

    static func parse(file: String) throws(K8sError) -> KubeConfigFile {
        let bytes: [UInt8]
        do { bytes = try Posix.read(file, limit: 16 << 20) } catch {
            throw K8sError(code: .kubeconfigNotFound, message: "cannot read kubeconfig \(file): \(error.reason)")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        if text.allSatisfy(\.isWhitespace) { return KubeConfigFile() }
        do {
            return try YAMLDecoder().decode(KubeConfigFile.self, from: text)
        } catch let error as DecodingError {
            throw K8sError(code: .kubeconfigInvalid, message: "kubeconfig \(file) is not valid: \(describe(error))")
        } catch {
            throw K8sError(code: .kubeconfigInvalid, message: "kubeconfig \(file) is not valid YAML: \(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "at \(path(context.codingPath).isEmpty ? "top level" : path(context.codingPath)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "key \"\(key.stringValue)\" missing at \(path(context.codingPath).isEmpty ? "top level" : path(context.codingPath))"
        @unknown default:
            return "\(error)"
        }
    }
}
