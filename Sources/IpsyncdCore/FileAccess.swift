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
