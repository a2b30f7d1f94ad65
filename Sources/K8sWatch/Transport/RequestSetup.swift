import CCurl
import Posix

/// Applies credentials and per-request options to a transfer. Runs on the transfer's own thread,
/// because reading a token file or running an exec plugin blocks.
struct RequestSetup {
    var credentials: ClusterCredentials
    var connectTimeout: Duration

    /// `refreshExec` re-runs the exec plugin even if its credential is cached (after a 401).
    func configure(_ transfer: CurlTransfer, url: String, refreshExec: Bool) throws(K8sError) {
        transfer.resetSetup()
        transfer.set(CURLOPT_URL, url)
        transfer.set(CURLOPT_NOSIGNAL, 1)
        transfer.set(CURLOPT_CONNECTTIMEOUT_MS, max(1, connectTimeout.wholeMilliseconds))
        transfer.set(CURLOPT_PROTOCOLS_STR, "https,http")
        transfer.set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        transfer.set(CURLOPT_TCP_KEEPALIVE, 1)
        transfer.set(CURLOPT_USERAGENT, "ipsyncd")
        var headers = ["Accept: application/json"]

        var clientCertificate = credentials.clientCertificate
        var clientKey = credentials.clientKey
        if let token = try bearerToken(refreshExec: refreshExec, certificate: &clientCertificate, key: &clientKey) {
            headers.append("Authorization: Bearer \(token)")
        }
        transfer.set(CURLOPT_HTTPHEADER, list: headers)

        switch credentials.certificateAuthority {
        case .file(let path): transfer.set(CURLOPT_CAINFO, path)
        case .data(let pem): transfer.set(CURLOPT_CAINFO_BLOB, blob: pem)
        case nil: break
        }
        switch clientCertificate {
        case .file(let path): transfer.set(CURLOPT_SSLCERT, path)
        case .data(let pem): transfer.set(CURLOPT_SSLCERT_BLOB, blob: pem)
        case nil: break
        }
        switch clientKey {
        case .file(let path): transfer.set(CURLOPT_SSLKEY, path)
        case .data(let pem): transfer.set(CURLOPT_SSLKEY_BLOB, blob: pem)
        case nil: break
        }
        if clientCertificate != nil {
            transfer.set(CURLOPT_SSLCERTTYPE, "PEM")
            transfer.set(CURLOPT_SSLKEYTYPE, "PEM")
        }
        let verify = credentials.insecureSkipTLSVerify ? 0 : 1
        transfer.set(CURLOPT_SSL_VERIFYPEER, verify)
        transfer.set(CURLOPT_SSL_VERIFYHOST, verify * 2)
        if let serverName = credentials.tlsServerName, let target = ServerAddress(credentials.server) {
            // libcurl 7.88 has no option for the SNI name alone. CONNECT_TO keeps the TCP connection
            // going to the configured server while the URL's host (so SNI and the certificate's name
            // check) is tls-server-name, which is what the kubeconfig key means.
            transfer.set(CURLOPT_URL, target.replacingHost(in: url, with: serverName))
            transfer.set(CURLOPT_CONNECT_TO, list: ["\(serverName):\(target.port):\(target.bracketedHost):\(target.port)"])
        }
        if let (option, code) = transfer.refusedOption {
            // Options that a libcurl built without a feature (an older one, another TLS backend) refuses.
            throw K8sError(code: .tls, message: """
                libcurl refused option \(option.rawValue) for \(credentials.server): \(String(cString: curl_easy_strerror(code))); \
                ipsyncd needs libcurl 7.85 or newer built with OpenSSL
                """)
        }
    }

    /// The token for this request: exec plugin, else tokenFile (re-read now, tokens rotate), else token.
    private func bearerToken(refreshExec: Bool, certificate: inout ClusterCredentials.PEM?,
                             key: inout ClusterCredentials.PEM?) throws(K8sError) -> String? {
        if let exec = credentials.exec {
            let credential = try exec.credential(refresh: refreshExec)
            if let pem = credential.clientCertificate, let keyPEM = credential.clientKey {
                certificate = .data(pem)
                key = .data(keyPEM)
            }
            if let token = credential.token { return token }
        }
        if let path = credentials.tokenFile {
            let bytes: [UInt8]
            do { bytes = try Posix.read(path, limit: 1 << 20) } catch {
                throw K8sError(code: .credentialFile,
                               message: "token file \(path) (\(credentials.source)) cannot be read: \(error.reason)")
            }
            let token = ConfigText.trimmedText(bytes)
            guard !token.isEmpty else {
                throw K8sError(code: .credentialFile, message: "token file \(path) (\(credentials.source)) is empty")
            }
            return token
        }
        return credentials.token
    }
}

/// The host and port of a server URL ("https://[fd00::1]:6443/prefix").
struct ServerAddress {
    var scheme: String
    var host: String
    var port: Int
    var authority: Substring

    init?(_ server: String) {
        guard let schemeEnd = server.firstRange(of: "://") else { return nil }
        scheme = String(server[..<schemeEnd.lowerBound]).lowercased()
        let rest = server[schemeEnd.upperBound...]
        authority = rest.prefix { $0 != "/" }
        var defaultPort = scheme == "https" ? 443 : 80
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let tail = authority[authority.index(after: close)...]
            if tail.hasPrefix(":"), let port = Int(tail.dropFirst()) { defaultPort = port }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            if let port = Int(authority[authority.index(after: colon)...]) { defaultPort = port }
        } else {
            host = String(authority)
        }
        port = defaultPort
    }

    var bracketedHost: String { host.contains(":") ? "[\(host)]" : host }

    func replacingHost(in url: String, with name: String) -> String {
        guard let range = url.firstRange(of: authority) else { return url }
        var replaced = url
        replaced.replaceSubrange(range, with: "\(name):\(port)")
        return replaced
    }
}
