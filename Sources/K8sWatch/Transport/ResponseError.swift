import CCurl
import FoundationEssentials

/// Maps a failed transfer or a non-2xx answer to a K8sError whose message says what to check.
/// Nothing here ever sees a token or key: only the URL, curl's error text and the Status body.
struct ResponseError {
    var credentials: ClusterCredentials

    private struct Status: Decodable {
        struct Details: Decodable { var retryAfterSeconds: Int? }
        var message: String?
        var reason: String?
        var details: Details?
    }

    func transfer(_ outcome: CurlTransfer.Outcome, url: String, idleTimeout: Duration?) -> K8sError {
        switch outcome {
        case .done:
            return K8sError(code: .badResponse, message: "\(url) answered without an HTTP status")
        case .cancelled:
            return K8sError(code: .cancelled, message: "request to \(url) was cancelled")
        case .idle:
            let after = idleTimeout.map { " for \(Self.format($0))" } ?? ""
            return K8sError(code: .timeout, message: "no data from \(url)\(after): the API server or the network stalled")
        case .aborted:
            return K8sError(code: .badResponse, message: "response from \(url) is too large (a line or body over the limit)")
        case .failed(let code, let detail):
            if code == CURLE_SSL_CONNECT_ERROR && Self.brokeDuringHandshake(detail) {
                return K8sError(code: .connection, message: """
                    the connection to \(credentials.server) broke during the TLS handshake: \(detail); the API server \
                    (or a proxy in between) closed it: is the API server up?
                    """)
            }
            if Self.tlsCodes.contains(code) {
                let key = Self.clientCertificateCodes.contains(code) ? "client-certificate and client-key"
                    : detail.contains("host name") || detail.contains("subject name") ? "the server address and tls-server-name"
                    : "certificate-authority"
                return K8sError(code: .tls, message: """
                    TLS handshake with \(credentials.server) failed: \(detail); check \(key) in \(credentials.configFile ?? credentials.source)
                    """)
            }
            if Self.connectCodes.contains(code) {
                return K8sError(code: .connection, message: """
                    cannot connect to \(credentials.server): \(detail); is the API server up and is the server address \
                    in \(credentials.source) right?
                    """)
            }
            return K8sError(code: .connection, message: "connection to \(url) failed: \(detail)")
        }
    }

    func status(_ status: Int, retryAfter: Duration?, body: [UInt8], url: String) -> K8sError {
        let parsed = try? JSONDecoder().decode(Status.self, from: Data(body))
        let text = parsed?.message ?? Self.plainText(body)
        let said = text.isEmpty ? "" : ": \(text)"
        let wait = retryAfter ?? parsed?.details?.retryAfterSeconds.map { .seconds($0) }
        switch status {
        case 401:
            return K8sError(code: .unauthorized, message: """
                401 Unauthorized from \(url)\(said); the credentials of \(credentials.source) were rejected \
                (token wrong or expired, or client certificate not trusted)
                """, httpStatus: status)
        case 403:
            return K8sError(code: .forbidden, message: """
                403 Forbidden from \(url)\(said); grant the user of \(credentials.source) list and watch on services
                """, httpStatus: status)
        case 404:
            return K8sError(code: .notFound, message: "404 Not Found from \(url)\(said)", httpStatus: status)
        case 410:
            return K8sError(code: .gone, message: "410 Gone from \(url)\(said); relist", httpStatus: status)
        case 429:
            return K8sError(code: .tooManyRequests, message: "429 Too Many Requests from \(url)\(said)",
                            httpStatus: status, retryAfter: wait)
        case 500...599:
            return K8sError(code: .server, message: "HTTP \(status) from \(url)\(said)", httpStatus: status, retryAfter: wait)
        default:
            return K8sError(code: .badResponse, message: "unexpected HTTP \(status) from \(url)\(said)", httpStatus: status)
        }
    }

    /// The start of a non-JSON body (a proxy's or the flow-control filter's plain text), one line.
    private static func plainText(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return ConfigText.trimmed(text.split(whereSeparator: \.isNewline).joined(separator: " "))
    }

    /// curl reports a reset or EOF during the handshake as an SSL connect error, yet no certificate was
    /// looked at: the server died or went away, so it is a connection error (and logged as one).
    static func brokeDuringHandshake(_ detail: String) -> Bool {
        let text = detail.lowercased()
        return ["connection reset", "broken pipe", "recv failure", "send failure", "ssl_error_syscall", "unexpected eof"]
            .contains { text.contains($0) }
    }

    static func format(_ duration: Duration) -> String {
        let ms = duration.wholeMilliseconds
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }

    private static let clientCertificateCodes: Set<CURLcode> = [CURLE_SSL_CERTPROBLEM, CURLE_SSL_CLIENTCERT]
    private static let tlsCodes: Set<CURLcode> = [
        CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
        CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_ENGINE_NOTFOUND,
        CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
        CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, CURLE_USE_SSL_FAILED,
    ]
    private static let connectCodes: Set<CURLcode> = [
        CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT, CURLE_URL_MALFORMAT,
        CURLE_UNSUPPORTED_PROTOCOL,
    ]
}

extension CURLcode: @retroactive Hashable {}
