import Glibc

/// Small, exact file reads (the reconciler's input must be the file's bytes, unrepaired).
enum FileAccess {
    struct ReadError: Error {
        var errno: Int32
        var reason: String { String(cString: strerror(errno)) }
        /// The file is there but could not be read (permissions, a directory, I/O).
        var exists: Bool { errno != ENOENT && errno != ENOTDIR }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func readBytes(_ path: String) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(errno: errno)
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    static func readText(_ path: String) throws(ReadError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }
}

extension FileAccess {
    /// Temp file beside the target, fsync, rename: readers see the old or the new bytes. nil on success,
    /// else what failed. (The live site file is written by the applier, not by this.)
    static func writeAtomically(_ bytes: [UInt8], to given: String) -> String? {
        // Renaming over a symlink would replace the link: write its target instead.
        var path = given
        if let resolved = realpath(given, nil) {
            path = String(cString: resolved)
            free(resolved)
        }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let base = path.split(separator: "/").last.map(String.init) ?? path
        var template = Array("\(directory.isEmpty ? "/" : directory)/.\(base).XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        let temp = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var problem: String?
        var offset = 0
        while offset < bytes.count && problem == nil {
            let count = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno != EINTR { problem = String(cString: strerror(errno)) }
            if count > 0 { offset += count }
        }
        if problem == nil && (fchmod(fd, 0o644) != 0 || fsync(fd) != 0) { problem = String(cString: strerror(errno)) }
        close(fd)
        if problem == nil && rename(temp, path) != 0 { problem = String(cString: strerror(errno)) }
        if problem != nil { unlink(temp) }
        return problem
    }
}
