public import InMemoryLogging
public import Logging

/// Log assertions use swift-log's `InMemoryLogHandler`; these two make it a one-liner.
extension InMemoryLogHandler {
    /// A logger that records here at every level.
    public var logger: Logger {
        var logger = Logger(label: "test") { _ in self }
        logger.logLevel = .trace
        return logger
    }

    /// The messages logged at `level`, in order.
    public func messages(_ level: Logger.Level) -> [String] {
        entries.filter { $0.level == level }.map { "\($0.message)" }
    }
}
