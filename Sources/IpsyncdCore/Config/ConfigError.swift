/// The one error type of IpsyncdCore: where (the config file or the flag and the key, the metrics file, the
/// socket) and what to do. The applier's errors are NginxApply's `ApplyError`, the API's K8sWatch's `K8sError`.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        // the settings (the file or a flag)
        case fileNotFound, unreadable, invalidYAML, notAMapping, unknownKey, wrongType, badValue,
             duplicateRoute, noRoutes
        // the daemon's own files and sockets
        case socket, metricsWrite
    }

    public var code: Code
    /// The config file's path, "command line" for a flag, or the metrics file's or socket's path.
    public var source: String
    /// The key (`settle`, `routes[1].port`) or the flag (`--settle`); empty when not tied to one.
    public var key: String
    /// 1-based line in the file, 0 when unknown or for a flag.
    public var line: Int
    public var message: String

    package init(code: Code, source: String, key: String = "", line: Int = 0, message: String) {
        self.code = code
        self.source = source
        self.key = key
        self.line = line
        self.message = message
    }

    /// A bad flag value: the command line is wrong (exit 64, EX_USAGE), not the config file.
    public var isUsageError: Bool { source == Self.commandLine }

    /// The `source` of an error in a flag.
    package static let commandLine = "command line"

    public var description: String {
        var text = source
        if line > 0 { text += ":\(line)" }
        if !key.isEmpty { text += ": \(key)" }
        return text + ": " + message
    }
}
