/// What a connection to the API server needs, after loading. Secrets stay module-internal and are
/// never printed: `description` says where each part comes from, not what it is.
package struct ClusterCredentials: Sendable, CustomStringConvertible {
    /// "https://127.0.0.1:6443"
    package var server: String
    /// From the context, or the service account's namespace in-cluster.
    package var namespace: String?
    /// "kubeconfig /path (context ctx)" or "in-cluster", for messages.
    package var source: String

    /// A PEM document from a file (read by curl at each connect) or inline.
    enum PEM: Sendable, Equatable {
        case file(String)
        case data([UInt8])
    }

    var certificateAuthority: PEM?
    var clientCertificate: PEM?
    var clientKey: PEM?
    var token: String?
    /// Re-read at every connect (tokens rotate); wins over `token`, as in client-go.
    var tokenFile: String?
    var exec: ExecPlugin?
    var insecureSkipTLSVerify = false
    var tlsServerName: String?
    /// Where the TLS settings were defined, for "check certificate-authority in <file>".
    var configFile: String?

    /// Credentials without authentication or TLS settings (a plain-HTTP server or the system CAs).
    package init(server: String, namespace: String? = nil, source: String? = nil) {
        self.server = server
        self.namespace = namespace
        self.source = source ?? "the given credentials"
    }

    package var description: String {
        var parts = ["server \(server)", "from \(source)"]
        if let namespace { parts.append("namespace \(namespace)") }
        parts.append(Self.describe("CA", certificateAuthority))
        if clientCertificate != nil { parts.append(Self.describe("client certificate", clientCertificate)) }
        if clientKey != nil { parts.append(Self.describe("client key", clientKey)) }
        if let tokenFile { parts.append("token file \(tokenFile)") } else if token != nil { parts.append("token (redacted)") }
        if let exec { parts.append("exec plugin \(exec.command)") }
        if insecureSkipTLSVerify { parts.append("TLS verification OFF") }
        if let tlsServerName { parts.append("tls-server-name \(tlsServerName)") }
        return parts.joined(separator: ", ")
    }

    private static func describe(_ what: String, _ pem: PEM?) -> String {
        switch pem {
        case .file(let path): "\(what) file \(path)"
        case .data: "\(what) inline"
        case nil: "\(what) system default"
        }
    }
}
