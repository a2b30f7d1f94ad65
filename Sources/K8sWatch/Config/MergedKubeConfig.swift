import FoundationEssentials
import Posix

/// Kubeconfig files merged as kubectl merges $KUBECONFIG: the first file to define a name wins, and
/// current-context comes from the first file that sets it. Each entry remembers its file, against
/// whose directory its relative paths resolve.
struct MergedKubeConfig {
    struct Defined<Value> { var value: Value; var file: String }

    var clusters: [String: Defined<KubeConfigFile.Cluster>] = [:]
    var users: [String: Defined<KubeConfigFile.User>] = [:]
    var contexts: [String: Defined<KubeConfigFile.Context>] = [:]
    var currentContext: Defined<String>?

    mutating func add(_ config: KubeConfigFile, from file: String) {
        for entry in config.clusters ?? [] where clusters[entry.name] == nil {
            clusters[entry.name] = Defined(value: entry.cluster ?? KubeConfigFile.Cluster(), file: file)
        }
        for entry in config.users ?? [] where users[entry.name] == nil {
            users[entry.name] = Defined(value: entry.user ?? KubeConfigFile.User(), file: file)
        }
        for entry in config.contexts ?? [] where contexts[entry.name] == nil {
            contexts[entry.name] = Defined(value: entry.context ?? KubeConfigFile.Context(), file: file)
        }
        if currentContext == nil, let current = config.currentContext, !current.isEmpty {
            currentContext = Defined(value: current, file: file)
        }
    }

    func credentials(context requested: String?, files: [String], environment: [String: String]) throws(K8sError) -> ClusterCredentials {
        let where_ = files.joined(separator: ", ")
        let names = contexts.keys.sorted().joined(separator: ", ")
        let known = names.isEmpty ? "it defines no contexts" : "contexts: \(names)"
        guard let name = (requested?.isEmpty == false ? requested : nil) ?? currentContext?.value else {
            throw K8sError(code: .contextNotFound, message: "no current-context in \(where_); pass --context (\(known))")
        }
        guard let context = contexts[name] else {
            throw K8sError(code: .contextNotFound, message: "context \"\(name)\" not found in \(where_); \(known)")
        }
        guard let clusterName = context.value.cluster, !clusterName.isEmpty else {
            throw K8sError(code: .kubeconfigInvalid, message: "context \"\(name)\" in \(context.file) has no cluster")
        }
        guard let cluster = clusters[clusterName] else {
            throw K8sError(code: .clusterNotFound, message: """
                cluster "\(clusterName)" of context "\(name)" not found in \(where_); \
                clusters: \(clusters.keys.sorted().joined(separator: ", "))
                """)
        }
        var credentials = ClusterCredentials(server: try server(of: cluster, named: clusterName),
                                             namespace: context.value.namespace.flatMap { $0.isEmpty ? nil : $0 },
                                             source: "kubeconfig \(where_) (context \(name))")
        credentials.configFile = cluster.file
        try apply(cluster, named: clusterName, to: &credentials)
        if let userName = context.value.user, !userName.isEmpty {
            guard let user = users[userName] else {
                throw K8sError(code: .userNotFound, message: """
                    user "\(userName)" of context "\(name)" not found in \(where_); \
                    users: \(users.keys.sorted().joined(separator: ", "))
                    """)
            }
            try apply(user, named: userName, to: &credentials, environment: environment)
        }
        return credentials
    }

    private func server(of cluster: Defined<KubeConfigFile.Cluster>, named name: String) throws(K8sError) -> String {
        guard let server = cluster.value.server, !server.isEmpty else {
            throw K8sError(code: .kubeconfigInvalid, message: "cluster \"\(name)\" in \(cluster.file) has no server")
        }
        if cluster.value.proxyURL?.isEmpty == false {
            throw K8sError(code: .kubeconfigInvalid,
                           message: "proxy-url of cluster \"\(name)\" in \(cluster.file) is not supported; remove it")
        }
        let full = server.contains("://") ? server : "https://" + server
        return full.hasSuffix("/") ? String(full.dropLast()) : full
    }

    private func apply(_ cluster: Defined<KubeConfigFile.Cluster>, named name: String,
                       to credentials: inout ClusterCredentials) throws(K8sError) {
        let origin = "cluster \"\(name)\" in \(cluster.file)"
        credentials.certificateAuthority = try pem(data: cluster.value.certificateAuthorityData, dataKey: "certificate-authority-data",
                                                   file: cluster.value.certificateAuthority, fileKey: "certificate-authority",
                                                   origin: origin, definedIn: cluster.file)
        credentials.insecureSkipTLSVerify = cluster.value.insecureSkipTLSVerify ?? false
        if let serverName = cluster.value.tlsServerName, !serverName.isEmpty { credentials.tlsServerName = serverName }
    }

    private func apply(_ user: Defined<KubeConfigFile.User>, named name: String, to credentials: inout ClusterCredentials,
                       environment: [String: String]) throws(K8sError) {
        let origin = "user \"\(name)\" in \(user.file)"
        let value = user.value
        if let provider = value.authProvider {
            throw K8sError(code: .unsupportedAuth, message: """
                \(origin) uses auth-provider "\(provider.name ?? "?")", which ipsyncd does not support (kubectl dropped it \
                too); use an exec credential plugin, a token, tokenFile or a client certificate
                """)
        }
        if value.username?.isEmpty == false || value.password?.isEmpty == false {
            throw K8sError(code: .unsupportedAuth, message: """
                \(origin) uses username/password (basic auth), which Kubernetes no longer supports; \
                use a token, tokenFile, exec plugin or client certificate
                """)
        }
        credentials.clientCertificate = try pem(data: value.clientCertificateData, dataKey: "client-certificate-data",
                                                file: value.clientCertificate, fileKey: "client-certificate",
                                                origin: origin, definedIn: user.file)
        credentials.clientKey = try pem(data: value.clientKeyData, dataKey: "client-key-data",
                                        file: value.clientKey, fileKey: "client-key", origin: origin, definedIn: user.file)
        if (credentials.clientCertificate == nil) != (credentials.clientKey == nil) {
            let missing = credentials.clientKey == nil ? "client-key" : "client-certificate"
            throw K8sError(code: .kubeconfigInvalid, message: "\(origin) has only half a client certificate: \(missing) (or -data) is missing")
        }
        if let token = value.token, !token.isEmpty { credentials.token = token }
        if let tokenFile = value.tokenFile, !tokenFile.isEmpty {
            let path = ConfigText.resolve(tokenFile, against: user.file)
            guard Posix.isReadable(path) else {
                throw K8sError(code: .credentialFile,
                               message: "tokenFile \(path) of \(origin) cannot be read: \(Posix.lastError())")
            }
            credentials.tokenFile = path
        }
        if let exec = value.exec {
            credentials.exec = try ExecPlugin(exec, origin: origin, definedIn: user.file, environment: environment)
        }
    }

    /// Inline base64 data wins over a file, as in client-go.
    private func pem(data: String?, dataKey: String, file: String?, fileKey: String, origin: String,
                     definedIn configFile: String) throws(K8sError) -> ClusterCredentials.PEM? {
        if let data, !data.isEmpty {
            let compact = data.filter { !$0.isWhitespace }
            guard let decoded = Data(base64Encoded: compact) else {
                throw K8sError(code: .kubeconfigInvalid, message: "\(dataKey) of \(origin) is not valid base64")
            }
            return .data(Array(decoded))
        }
        if let file, !file.isEmpty {
            let path = ConfigText.resolve(file, against: configFile)
            guard Posix.isReadable(path) else {
                throw K8sError(code: .credentialFile, message: "\(fileKey) \(path) of \(origin) cannot be read: \(Posix.lastError())")
            }
            return .file(path)
        }
        return nil
    }
}
