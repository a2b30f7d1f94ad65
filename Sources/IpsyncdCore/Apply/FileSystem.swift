import Glibc

/// A failed system call on a file, for the applier to turn into an `ApplyError` with context.
struct FileError: Error, CustomStringConvertible {
    var operation: String
    var path: String
    var errno: Int32
    var description: String { "\(operation) \(path): \(FileSystem.describe(errno))" }
}

/// The few file operations the applier needs, on Glibc directly: O_CLOEXEC everywhere (commands are
/// spawned while files are open), fsync of files and directories, fchown/fchmod, rename.
enum FileSystem {
    struct Metadata { var mode: mode_t; var uid: uid_t; var gid: gid_t }

    static func read(_ path: String) throws(FileError) -> [UInt8] {
        try readWithIdentity(path).bytes
    }

    /// What tells one version of a file from another without reading it: a rename over the path changes
    /// the inode, a write changes the size or the times (which may tick as coarsely as the kernel's clock,
    /// so the bytes are compared too; see `Applier.stillHolds`).
    struct Identity: Equatable {
        var device: UInt64, inode: UInt64, size: Int64
        var modified: timespec, changed: timespec

        init(_ info: stat) {
            device = UInt64(info.st_dev); inode = UInt64(info.st_ino); size = Int64(info.st_size)
            modified = info.st_mtim; changed = info.st_ctim
        }

        static func == (a: Identity, b: Identity) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }

    static func identity(_ path: String) throws(FileError) -> Identity {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileError(operation: "stat", path: path, errno: errno) }
        return Identity(info)
    }

    /// The bytes and the identity of the file that was opened (fstat before the read).
    static func readWithIdentity(_ path: String) throws(FileError) -> (bytes: [UInt8], identity: Identity) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(operation: "fstat", path: path, errno: errno) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]); continue }
            if count == 0 { return (bytes, Identity(info)) }
            if errno == EINTR { continue }
            throw FileError(operation: "read", path: path, errno: errno)
        }
    }

    static func metadata(_ path: String) throws(FileError) -> Metadata {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileError(operation: "stat", path: path, errno: errno) }
        return Metadata(mode: info.st_mode & 0o7777, uid: info.st_uid, gid: info.st_gid)
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func resolve(_ path: String) throws(FileError) -> String {
        guard let resolved = realpath(path, nil) else { throw FileError(operation: "realpath", path: path, errno: errno) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Creates `path` (it must not exist) with `bytes` and exactly `mode`; fsyncs it when asked.
    static func create(_ path: String, _ bytes: [UInt8], mode: mode_t, owner: (uid_t, gid_t)? = nil,
                       sync: Bool = false) throws(FileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError(operation: "create", path: path, errno: errno) }
        var failure: FileError?
        if let (uid, gid) = owner, fchown(fd, uid, gid) != 0 {
            failure = FileError(operation: "fchown", path: path, errno: errno)
        } else if fchmod(fd, mode) != 0 {  // not the umask's idea of the mode
            failure = FileError(operation: "fchmod", path: path, errno: errno)
        } else if let error = writeAll(fd, bytes, path: path) {
            failure = error
        } else if sync && fsync(fd) != 0 {
            failure = FileError(operation: "fsync", path: path, errno: errno)
        }
        close(fd)
        if let failure {
            unlink(path)
            throw failure
        }
    }

    /// Writes `bytes` to a dot file beside `target`, fsyncs it, renames it over `target` and fsyncs the
    /// directory. The rename is atomic: a crash leaves the old bytes or the new ones, never a mix.
    static func replace(_ target: String, with bytes: [UInt8], mode: mode_t, owner: (uid_t, gid_t)?) throws(FileError) {
        let temp = stagingPath(beside: target)
        try create(temp, bytes, mode: mode, owner: owner, sync: true)
        guard rename(temp, target) == 0 else {
            let error = FileError(operation: "rename \(temp) to", path: target, errno: errno)
            unlink(temp)
            throw error
        }
        try syncDirectory(directory(of: target))
    }

    static func syncDirectory(_ path: String) throws(FileError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(operation: "open directory", path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileError(operation: "fsync directory", path: path, errno: errno) }
    }

    /// mkdir -p; the last component gets `mode`.
    static func makeDirectory(_ path: String, mode: mode_t) throws(FileError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw FileError(operation: "mkdir", path: path, errno: ENOTDIR) }
            return
        }
        let parent = directory(of: path)
        if parent != path { try makeDirectory(parent, mode: 0o755) }
        guard mkdir(path, mode) == 0 || errno == EEXIST else { throw FileError(operation: "mkdir", path: path, errno: errno) }
    }

    /// `strerror`, for messages.
    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func remove(_ path: String) {
        unlink(path)
    }

    /// `unlink`, with the reason when it fails (EISDIR: a directory is never unlinked, nor emptied).
    static func removeFile(_ path: String) throws(FileError) {
        guard unlink(path) == 0 else { throw FileError(operation: "unlink", path: path, errno: errno) }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) -> FileError? {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                return FileError(operation: "write", path: path, errno: errno)
            }
            offset += count
        }
        return nil
    }

    // MARK: Names

    /// The marker in every file name ipsyncd creates beside someone else's files.
    static let marker = ".ipsyncd-"

    /// `.NAME.ipsyncd-<random>` in `target`'s directory: nginx's `include dir/*` never matches a dot file.
    static func stagingPath(beside target: String) -> String {
        directory(of: target) + "/." + baseName(of: target) + marker + randomSuffix()
    }

    static func isStagingName(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(marker)
    }

    /// Names in `directory` that ipsyncd created (`.*.ipsyncd-*`).
    static func stagingLeftovers(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var found: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if isStagingName(name) { found.append(directory + "/" + name) }
        }
        return found.sorted()
    }

    static func randomSuffix() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<10).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }

    /// `path` made absolute against the working directory (nginx resolves `-c` the same way).
    static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/"), let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + path
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

/// Quotes `text` for `/bin/sh` (single quotes; an embedded quote becomes '\'').
func shellQuote(_ text: String) -> String {
    "'" + text.replacing("'", with: "'\\''") + "'"
}
