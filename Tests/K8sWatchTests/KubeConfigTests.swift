import Foundation
import Testing
import TestSupport
@testable import K8sWatch

/// Writes the files a kubeconfig refers to (content is irrelevant to the loader).
private func writePEMs(_ dir: TempDir, prefix: String = "") throws {
    for name in ["ca.crt", "client.crt", "client.key"] { try dir.write(prefix + name, "-----BEGIN X-----\n") }
}

private let twoContexts = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: c1
      cluster:
        server: https://127.0.0.1:6443
        certificate-authority: pki/ca.crt
        tls-server-name: kubernetes
    users:
    - name: u1
      user:
        client-certificate: pki/client.crt
        client-key: pki/client.key
    - name: t1
      user:
        token: s3cr3t-token
    contexts:
    - name: default
      context: {cluster: c1, user: u1, namespace: flowmaster}
    - name: dev
      context: {cluster: c1, user: t1}
    current-context: default
    """

@Suite struct KubeConfigTests {
    @Test func readsClusterUserAndNamespaceWithRelativePaths() throws {
        let dir = try TempDir()
        try writePEMs(dir, prefix: "pki/")
        let path = try dir.write("config", twoContexts)
        let credentials = try KubeConfigLoader.load(path: path, context: nil, environment: [:])
        #expect(credentials.server == "https://127.0.0.1:6443")
        #expect(credentials.namespace == "flowmaster")
        #expect(credentials.source == "kubeconfig \(path) (context default)")
        #expect(credentials.certificateAuthority == .file(dir.file("pki/ca.crt")))
        #expect(credentials.clientCertificate == .file(dir.file("pki/client.crt")))
        #expect(credentials.clientKey == .file(dir.file("pki/client.key")))
        #expect(credentials.tlsServerName == "kubernetes")
        #expect(credentials.insecureSkipTLSVerify == false)
        #expect(credentials.token == nil)
    }

    @Test func explicitContextWinsAndTokenIsNeverPrinted() throws {
        let dir = try TempDir()
        try writePEMs(dir, prefix: "pki/")
        let path = try dir.write("config", twoContexts)
        let credentials = try KubeConfigLoader.load(path: path, context: "dev", environment: [:])
        #expect(credentials.token == "s3cr3t-token")
        #expect(credentials.namespace == nil)
        #expect(!credentials.description.contains("s3cr3t"))
        #expect(!"\(credentials)".contains("s3cr3t"))
        #expect(credentials.description.contains("token (redacted)"))
    }

    @Test func inlineDataFieldsAreDecoded() throws {
        let dir = try TempDir()
        let b64 = { (text: String) in Data(text.utf8).base64EncodedString() }
        let path = try dir.write("k3s.yaml", """
            clusters:
            - name: default
              cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: \(b64("CA PEM")), insecure-skip-tls-verify: true}
            users:
            - name: default
              user: {client-certificate-data: \(b64("CERT PEM")), client-key-data: \(b64("KEY PEM"))}
            contexts:
            - name: default
              context: {cluster: default, user: default}
            current-context: default
            """)
        let credentials = try KubeConfigLoader.load(path: path, context: nil, environment: [:])
        #expect(credentials.certificateAuthority == .data(Array("CA PEM".utf8)))
        #expect(credentials.clientCertificate == .data(Array("CERT PEM".utf8)))
        #expect(credentials.clientKey == .data(Array("KEY PEM".utf8)))
        #expect(credentials.insecureSkipTLSVerify)
        #expect(!credentials.description.contains("KEY PEM"))
    }

    @Test func kubeconfigListIsMergedFirstDefinitionWins() throws {
        let one = try TempDir(), two = try TempDir()
        try writePEMs(one)
        try one.write("token", "t")
        try two.write("ca.crt", "x")
        let first = try one.write("a.yaml", """
            clusters:
            - name: shared
              cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.crt}
            users:
            - name: shared-user
              user: {tokenFile: token}
            contexts:
            - name: one
              context: {cluster: shared, user: shared-user, namespace: first}
            """)
        let second = try two.write("b.yaml", """
            clusters:
            - name: shared
              cluster: {server: "https://10.9.9.9:6443"}
            - name: only-two
              cluster: {server: "https://10.0.0.2:6443", certificate-authority: ca.crt}
            contexts:
            - name: one
              context: {cluster: only-two, namespace: second}
            - name: two
              context: {cluster: only-two, user: shared-user}
            current-context: two
            """)
        let environment = ["KUBECONFIG": "\(first):\(one.file("missing.yaml")):\(second)"]
        let current = try KubeConfigLoader.load(path: nil, context: nil, environment: environment)
        #expect(current.server == "https://10.0.0.2:6443")
        #expect(current.certificateAuthority == .file(two.file("ca.crt")))
        #expect(current.tokenFile == one.file("token"))     // user defined in the first file, resolved there
        let one_ = try KubeConfigLoader.load(path: nil, context: "one", environment: environment)
        #expect(one_.server == "https://10.0.0.1:6443")
        #expect(one_.namespace == "first")
        #expect(one_.certificateAuthority == .file(one.file("ca.crt")))
    }

    @Test func missingContextNamesFileAndKnownContexts() throws {
        let dir = try TempDir()
        try writePEMs(dir, prefix: "pki/")
        let path = try dir.write("config", twoContexts)
        let error = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: "prod", environment: [:]) }
        #expect(error?.code == .contextNotFound)
        #expect(error?.message == "context \"prod\" not found in \(path); contexts: default, dev")
    }

    @Test func noCurrentContextAsksForOne() throws {
        let dir = try TempDir()
        let path = try dir.write("config", "contexts:\n- name: a\n  context: {cluster: c}\n")
        let error = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: nil, environment: [:]) }
        #expect(error?.code == .contextNotFound)
        #expect(error?.message == "no current-context in \(path); pass --context (contexts: a)")
    }

    @Test func missingClusterUserAndServerAreNamed() throws {
        let dir = try TempDir()
        let path = try dir.write("config", """
            clusters:
            - name: noserver
              cluster: {}
            users:
            - name: u
              user: {}
            contexts:
            - {name: a, context: {cluster: nope, user: u}}
            - {name: c, context: {cluster: noserver}}
            """)
        let cluster = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: "a", environment: [:]) }
        #expect(cluster?.code == .clusterNotFound)
        #expect(cluster?.message == "cluster \"nope\" of context \"a\" not found in \(path); clusters: noserver")
        let server = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: "c", environment: [:]) }
        #expect(server?.code == .kubeconfigInvalid)
        #expect(server?.message == "cluster \"noserver\" in \(path) has no server")
    }

    @Test func userNotFoundListsUsers() throws {
        let dir = try TempDir()
        let path = try dir.write("config", """
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
            users: [{name: admin, user: {token: x}}]
            contexts: [{name: a, context: {cluster: c, user: ghost}}]
            current-context: a
            """)
        let error = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: nil, environment: [:]) }
        #expect(error?.code == .userNotFound)
        #expect(error?.message == "user \"ghost\" of context \"a\" not found in \(path); users: admin")
    }

    @Test func authProviderAndBasicAuthAreUnsupported() throws {
        let dir = try TempDir()
        let path = try dir.write("config", """
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
            users:
            - {name: gcp, user: {auth-provider: {name: gcp, config: {}}}}
            - {name: basic, user: {username: admin, password: hunter2}}
            contexts: [{name: gcp, context: {cluster: c, user: gcp}}, {name: basic, context: {cluster: c, user: basic}}]
            """)
        let gcp = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: "gcp", environment: [:]) }
        #expect(gcp?.code == .unsupportedAuth)
        #expect(gcp?.message.contains("user \"gcp\" in \(path) uses auth-provider \"gcp\"") == true)
        let basic = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: "basic", environment: [:]) }
        #expect(basic?.code == .unsupportedAuth)
        #expect(basic?.message.contains("username/password") == true)
        #expect(basic?.message.contains("hunter2") == false)
    }

    @Test func unreadableFilesAndBadDataNameTheKey() throws {
        let dir = try TempDir()
        let path = try dir.write("config", """
            clusters:
            - {name: c, cluster: {server: "https://127.0.0.1:1", certificate-authority: nowhere/ca.crt}}
            - {name: d, cluster: {server: "https://127.0.0.1:1", certificate-authority-data: "!!notbase64"}}
            - {name: e, cluster: {server: "https://127.0.0.1:1"}}
            users: [{name: u, user: {tokenFile: gone}}]
            contexts: [{name: a, context: {cluster: c}}, {name: b, context: {cluster: d}}, {name: t, context: {cluster: e, user: u}}]
            """)
        let ca = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: "a", environment: [:]) }
        #expect(ca?.code == .credentialFile)
        #expect(ca?.message == "certificate-authority \(dir.file("nowhere/ca.crt")) of cluster \"c\" in \(path) cannot be read: No such file or directory")
        let data = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: "b", environment: [:]) }
        #expect(data?.code == .kubeconfigInvalid)
        #expect(data?.message == "certificate-authority-data of cluster \"d\" in \(path) is not valid base64")
        let token = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: "t", environment: [:]) }
        #expect(token?.code == .credentialFile)
        #expect(token?.message == "tokenFile \(dir.file("gone")) of user \"u\" in \(path) cannot be read: No such file or directory")
    }

    @Test func malformedFilesAreKubeconfigInvalid() throws {
        let dir = try TempDir()
        let path = try dir.write("config", "clusters: [{name: c, cluster: {server: [1, 2]}}]\n")
        let error = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: path, context: nil, environment: [:]) }
        #expect(error?.code == .kubeconfigInvalid)
        #expect(error?.message.hasPrefix("kubeconfig \(path) is not valid: at .clusters[0].cluster.server") == true)
        let broken = try dir.write("broken", "clusters: [\n")
        let yaml = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: broken, context: nil, environment: [:]) }
        #expect(yaml?.code == .kubeconfigInvalid)
        #expect(yaml?.message.contains(broken) == true)
    }

    @Test func missingExplicitFileAndEmptyKubeconfigList() throws {
        let dir = try TempDir()
        let missing = dir.file("nope")
        let explicit = #expect(throws: K8sError.self) { try KubeConfigLoader.load(path: missing, context: nil, environment: [:]) }
        #expect(explicit?.code == .kubeconfigNotFound)
        #expect(explicit?.message == "kubeconfig \(missing) does not exist; check --kubeconfig")
        let list = #expect(throws: K8sError.self) {
            try KubeConfigLoader.load(path: nil, context: nil, environment: ["KUBECONFIG": missing])
        }
        #expect(list?.code == .kubeconfigNotFound)
        #expect(list?.message == "none of the files in KUBECONFIG exist: \(missing)")
    }

    @Test func inClusterReadsServiceAccount() throws {
        let account = try TempDir()
        try account.write("token", "sa-token\n")
        try account.write("ca.crt", "PEM")
        try account.write("namespace", "flowmaster\n")
        let environment = ["KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"]
        let credentials = try KubeConfigLoader.load(path: nil, context: nil, environment: environment,
                                                    serviceAccountDirectory: account.path, wellKnownPaths: [])
        #expect(credentials.server == "https://10.43.0.1:443")
        #expect(credentials.namespace == "flowmaster")
        #expect(credentials.tokenFile == account.file("token"))
        #expect(credentials.certificateAuthority == .file(account.file("ca.crt")))
        #expect(credentials.source == "in-cluster service account \(account.path)")

        var podNamespace = environment
        podNamespace["POD_NAMESPACE"] = "other"
        podNamespace["KUBERNETES_SERVICE_HOST"] = "fd00::1"
        let v6 = try KubeConfigLoader.load(path: nil, context: nil, environment: podNamespace,
                                           serviceAccountDirectory: account.path, wellKnownPaths: [])
        #expect(v6.namespace == "other")
        #expect(v6.server == "https://[fd00::1]:443")
    }

    @Test func inClusterWithoutTokenSaysSo() throws {
        let account = try TempDir()
        try account.write("ca.crt", "PEM")
        let environment = ["KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"]
        let error = #expect(throws: K8sError.self) {
            try KubeConfigLoader.load(path: nil, context: nil, environment: environment,
                                      serviceAccountDirectory: account.path, wellKnownPaths: [])
        }
        #expect(error?.code == .inCluster)
        #expect(error?.message.contains("service-account token \(account.file("token")) cannot be read") == true)
    }

    @Test func searchOrder() throws {
        let dir = try TempDir()
        let account = try TempDir()
        try account.write("token", "t")
        try account.write("ca.crt", "PEM")
        let config = { (server: String) in
            "clusters: [{name: c, cluster: {server: \"\(server)\"}}]\ncontexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n"
        }
        let explicit = try dir.write("explicit", config("https://1.1.1.1"))
        let listed = try dir.write("listed", config("https://2.2.2.2"))
        let k3s = dir.file("k3s.yaml")
        let home = try dir.write("home", config("https://4.4.4.4"))
        let inPod = ["KUBERNETES_SERVICE_HOST": "3.3.3.3", "KUBERNETES_SERVICE_PORT": "6443"]
        func server(_ path: String?, _ environment: [String: String]) throws -> String {
            try KubeConfigLoader.load(path: path, context: nil, environment: environment,
                                      serviceAccountDirectory: account.path, wellKnownPaths: [k3s, home]).server
        }
        var everything = inPod
        everything["KUBECONFIG"] = listed
        #expect(try server(explicit, everything) == "https://1.1.1.1")
        #expect(try server(nil, everything) == "https://2.2.2.2")
        #expect(try server(nil, inPod) == "https://3.3.3.3:6443")
        #expect(try server(nil, [:]) == "https://4.4.4.4")
        try dir.write("k3s.yaml", config("https://5.5.5.5"))
        #expect(try server(nil, [:]) == "https://5.5.5.5")

        let nothing = #expect(throws: K8sError.self) {
            try KubeConfigLoader.load(path: nil, context: nil, environment: [:],
                                      serviceAccountDirectory: account.path, wellKnownPaths: [dir.file("none")])
        }
        #expect(nothing?.code == .kubeconfigNotFound)
        #expect(nothing?.message.contains("pass --kubeconfig or set KUBECONFIG") == true)
        #expect(nothing?.message.contains(dir.file("none")) == true)
    }

    @Test func defaultSearchIncludesHomeKubeConfig() throws {
        let home = try TempDir()
        try home.write(".kube/config", "clusters: [{name: c, cluster: {server: \"127.0.0.1:6443\"}}]\ncontexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n")
        guard !KubeConfigLoader.distributionPaths.contains(where: { FileManager.default.fileExists(atPath: $0) }) else { return }
        let credentials = try KubeConfigLoader.load(path: nil, context: nil, environment: ["HOME": home.path])
        #expect(credentials.server == "https://127.0.0.1:6443")   // a server without a scheme is https, as in kubectl
    }
}
