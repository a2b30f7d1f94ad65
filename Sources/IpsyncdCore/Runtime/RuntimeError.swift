/// The one error type of the runtime area (logging, notify, metrics, signals, the daemon loop).
public struct RuntimeError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case socket, metricsWrite
    }

    public var code: Code
    /// Says what failed, on which path, and what to do.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

import Glibc


