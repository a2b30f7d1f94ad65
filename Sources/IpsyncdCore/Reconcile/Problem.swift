/// A reason, for humans, carried in a `Result` (why a Service has no usable address, why a file cannot be read).
struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
