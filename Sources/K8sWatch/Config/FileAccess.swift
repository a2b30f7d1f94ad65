#if canImport(Glibc)
import Glibc
#endif

/// Small POSIX file helpers whose failures carry errno's text, for error messages that say why.
enum FileAccess {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    static func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }

    /// The whole file, or the reason it could not be read ("No such file or directory").
    static func read(_ path: String, limit: Int = 16 << 20) -> Result<[UInt8], ReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(ReadFailure(reason: lastError())) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(reason: lastError()))
            }
            if count == 0 { return .success(bytes) }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { return .failure(ReadFailure(reason: "larger than \(limit) bytes")) }
        }
    }

    struct ReadFailure: Error { var reason: String }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// `relative` against the directory of `file` (kubeconfig paths are relative to their own file).
    static func resolve(_ relative: String, against file: String) -> String {
        if relative.hasPrefix("/") { return relative }
        guard let slash = file.lastIndex(of: "/") else { return relative }
        return String(file[...slash]) + relative
    }

    /// Text of a small file with surrounding whitespace removed (tokens, namespaces).
    static func trimmedText(_ bytes: [UInt8]) -> String {
        trimmed(String(decoding: bytes, as: UTF8.self))
    }

    /// `text` without leading and trailing whitespace and newlines.
    static func trimmed<Text: StringProtocol>(_ text: Text) -> String {
        String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
