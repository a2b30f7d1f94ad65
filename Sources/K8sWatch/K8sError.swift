/// The one error type of K8sWatch. `message` names the file, key or URL and what to do; never a secret.
public struct K8sError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case kubeconfigNotFound, kubeconfigInvalid, contextNotFound, clusterNotFound, userNotFound,
             unsupportedAuth, credentialFile, execPlugin, inCluster,
             connection, tls, unauthorized, forbidden, notFound, gone, tooManyRequests, server,
             badResponse, timeout, cancelled
    }

    public var code: Code
    public var message: String
    public var httpStatus: Int?
    /// From `Retry-After` (429/503) or a Status's `details.retryAfterSeconds`.
    public var retryAfter: Duration?

    package init(code: Code, message: String, httpStatus: Int? = nil, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.retryAfter = retryAfter
    }

    public var description: String { message }
}
