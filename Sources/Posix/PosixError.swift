import Glibc

/// A failed system call on a path: the operation, the path and errno, with errno's text in the description
/// ("open /etc/ipsyncd.yaml: No such file or directory").
public struct PosixError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// errno's text alone ("Permission denied").
    public var reason: String { Posix.describe(errno) }
    /// The path is there but could not be used (permissions, a directory, I/O), as opposed to missing.
    public var pathExists: Bool { errno != ENOENT && errno != ENOTDIR }
    public var description: String { "\(operation) \(path): \(reason)" }
}
