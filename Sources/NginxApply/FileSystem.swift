import Glibc
import Posix

/// A failed system call on a file, for the applier to turn into an `ApplyError` with context.
typealias FileError = PosixError

/// The applier's file operations: the POSIX layer's reads, writes and atomic replace, plus what only the
/// applier needs (metadata, realpath, mkdir -p, its own leftovers).
typealias FileSystem = Posix

extension Posix {
    struct Metadata { var mode: mode_t; var uid: uid_t; var gid: gid_t }

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

    static func resolve(_ path: String) throws(FileError) -> String {
        guard let resolved = realpath(path, nil) else { throw FileError(operation: "realpath", path: path, errno: errno) }
        defer { free(resolved) }
        return String(cString: resolved)
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

    static func remove(_ path: String) {
        unlink(path)
    }

    /// `unlink`, with the reason when it fails (EISDIR: a directory is never unlinked, nor emptied).
    static func removeFile(_ path: String) throws(FileError) {
        guard unlink(path) == 0 else { throw FileError(operation: "unlink", path: path, errno: errno) }
    }

    // MARK: Names

    /// The applier's own name for the layer's temporary path (`.NAME.ipsyncd-<random>`).
    static func stagingPath(beside target: String) -> String { temporaryPath(beside: target) }

    static func isStagingName(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(temporaryMarker)
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

    /// `path` made absolute against the working directory (nginx resolves `-c` the same way).
    static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/"), let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + path
    }
}

/// Quotes `text` for `/bin/sh` (single quotes; an embedded quote becomes '\'').
func shellQuote(_ text: String) -> String {
    "'" + text.replacing("'", with: "'\\''") + "'"
}
