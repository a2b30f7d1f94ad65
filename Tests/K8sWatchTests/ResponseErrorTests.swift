import CCurl
import Testing
@testable import K8sWatch

/// How a failed TLS connect is classified, over the messages curl really prints.
@Suite struct ResponseErrorTests {
    let errors = ResponseError(credentials: ClusterCredentials(server: "https://127.0.0.1:6443", source: "kubeconfig k"))

    /// A server that resets or closes during the handshake (curl 7.88 with OpenSSL 3.0, the first three;
    /// the others as earlier and later curl versions word it).
    static let brokenConnections = [
        "Recv failure: Connection reset by peer",
        "Send failure: Connection reset by peer",
        "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 127.0.0.1:6443 ",
        "OpenSSL SSL_connect: Connection reset by peer in connection to 127.0.0.1:6443 ",
        "Send failure: Broken pipe",
        "error:0A000126:SSL routines::unexpected eof while reading",
        "TLS connect error: error:0A000126:SSL routines::unexpected eof while reading",
    ]

    /// Real TLS failures under the same code (curl 7.88 with OpenSSL 3.0).
    static let tlsFailures = [
        "OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number",
        "OpenSSL/3.0.19: error:0A000410:SSL routines::sslv3 alert handshake failure",
        "OpenSSL/3.0.19: error:0A000418:SSL routines::tlsv1 alert unknown ca",
        "OpenSSL/3.0.19: error:0A000086:SSL routines::certificate verify failed",
    ]

    @Test("a reset or EOF during the handshake is a connection error", arguments: brokenConnections)
    func brokenConnection(detail: String) {
        let error = errors.transfer(.failed(CURLE_SSL_CONNECT_ERROR, detail), url: "https://127.0.0.1:6443/api", idleTimeout: nil)
        #expect(error.code == .connection)
        #expect(error.message.contains("127.0.0.1:6443") && error.message.contains(detail))
        #expect(!error.message.contains("certificate-authority"))
    }

    @Test("a TLS failure under the same code stays a TLS error", arguments: tlsFailures)
    func tlsFailure(detail: String) {
        let error = errors.transfer(.failed(CURLE_SSL_CONNECT_ERROR, detail), url: "https://127.0.0.1:6443/api", idleTimeout: nil)
        #expect(error.code == .tls)
        #expect(error.message.contains("TLS handshake with https://127.0.0.1:6443 failed"))
    }

    @Test("certificate verification failures stay TLS errors naming what to check")
    func verification() {
        let untrusted = errors.transfer(.failed(CURLE_PEER_FAILED_VERIFICATION, "SSL certificate problem: unable to get local issuer certificate"),
                                        url: "https://127.0.0.1:6443/api", idleTimeout: nil)
        #expect(untrusted.code == .tls && untrusted.message.contains("check certificate-authority in kubeconfig k"))
        let name = errors.transfer(.failed(CURLE_PEER_FAILED_VERIFICATION, "SSL: no alternative certificate subject name matches target host name 'api.invalid'"),
                                   url: "https://api.invalid:6443/api", idleTimeout: nil)
        #expect(name.code == .tls && name.message.contains("tls-server-name"))
    }
}
