import Glibc

/// The project's one home for file system calls: whole-file reads, write-all, atomic replace, directory
/// fsync. Every descriptor is O_CLOEXEC (commands are spawned while files are open).
public enum Posix {
    /// `strerror`, for messages.
    public static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// The text of the current errno.
    public static func lastError() -> String { describe(errno) }

    /// True when `path` exists (a symlink counts when its target does).
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    public static func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }

    /// The whole file, read to its end; past `limit` bytes it fails with EFBIG ("File too large").
    public static func read(_ path: String, limit: Int = Int.max) throws(PosixError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PosixError(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes.append(contentsOf: chunk[0..<count])
                if bytes.count > limit { throw PosixError(operation: "read", path: path, errno: EFBIG) }
                continue
            }
            if count == 0 { return bytes }
            if errno == EINTR { continue }
            throw PosixError(operation: "read", path: path, errno: errno)
        }
    }

    /// Writes every byte to `fd` (a pipe or socket may take them in pieces). Returns 0, or the errno of the
    /// failed write; a write that takes nothing is a failure (EIO) rather than a loop that never ends.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count > 0 { offset += count; continue }
            if count < 0 && errno == EINTR { continue }
            return count == 0 ? EIO : errno
        }
        return 0
    }

    /// Creates `path` (it must not exist) with `bytes` and exactly `mode` (not the umask's idea of it), owned
    /// by `owner` when given; fsyncs it when asked. On failure nothing is left at `path`.
    public static func create(_ path: String, _ bytes: [UInt8], mode: mode_t, owner: (uid_t, gid_t)? = nil,
                              sync: Bool = false) throws(PosixError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PosixError(operation: "create", path: path, errno: errno) }
        var failure: PosixError?
        if let (uid, gid) = owner, fchown(fd, uid, gid) != 0 {
            failure = PosixError(operation: "fchown", path: path, errno: errno)
        } else if fchmod(fd, mode) != 0 {
            failure = PosixError(operation: "fchmod", path: path, errno: errno)
        } else if case let code = writeAll(fd, bytes), code != 0 {
            failure = PosixError(operation: "write", path: path, errno: code)
        } else if sync && fsync(fd) != 0 {
            failure = PosixError(operation: "fsync", path: path, errno: errno)
        }
        close(fd)
        if let failure {
            unlink(path)
            throw failure
        }
    }

    /// Atomic replace: writes `bytes` to a dot file beside `target`, fsyncs it, renames it over `target` and
    /// fsyncs the directory. Readers see the old bytes or the new ones; after a crash the rename either
    /// happened or not. A symlink at `target` is followed (renaming over it would replace the link).
    /// `durable: false` skips both fsyncs, for a file that is rewritten anyway and need not survive a power
    /// loss (readers still never see a partial file); an fsync forces a journal commit others may wait on.
    public static func replace(_ target: String, with bytes: [UInt8], mode: mode_t,
                               owner: (uid_t, gid_t)? = nil, durable: Bool = true) throws(PosixError) {
        let path = resolvedIfLink(target)
        let temp = temporaryPath(beside: path)
        try create(temp, bytes, mode: mode, owner: owner, sync: durable)
        guard rename(temp, path) == 0 else {
            let error = PosixError(operation: "rename \(temp) to", path: path, errno: errno)
            unlink(temp)
            throw error
        }
        if durable { try syncDirectory(directory(of: path)) }
    }

    /// fsync of a directory: makes a rename or unlink in it survive a power loss.
    public static func syncDirectory(_ path: String) throws(PosixError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw PosixError(operation: "open directory", path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw PosixError(operation: "fsync directory", path: path, errno: errno) }
    }

    // MARK: Names

    /// The marker in every file name ipsyncd creates beside someone else's files.
    public static let temporaryMarker = ".ipsyncd-"

    /// `.NAME.ipsyncd-<random>` in `target`'s directory: nginx's `include dir/*` never matches a dot file.
    public static func temporaryPath(beside target: String) -> String {
        directory(of: target) + "/." + baseName(of: target) + temporaryMarker + randomSuffix()
    }

    static func randomSuffix() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<10).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    public static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    private static func resolvedIfLink(_ path: String) -> String {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK, let resolved = realpath(path, nil) else {
            return path
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
