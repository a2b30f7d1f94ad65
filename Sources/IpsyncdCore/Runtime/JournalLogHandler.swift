import Logging

import Glibc
import Posix

/// swift-log handler speaking journald's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL): one datagram per
/// entry to `/run/systemd/journal/socket`, with PRIORITY, SYSLOG_IDENTIFIER and each metadata key as an upper-cased
/// field. An array value gives the field once per element (journald keeps repeated fields).
struct JournalLogHandler: LogHandler {
    static let defaultSocketPath = "/run/systemd/journal/socket"

    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let identifier: String
    private let socket: UnixDatagramSocket
    private let fallback: TextLogHandler

    init(socket: UnixDatagramSocket, identifier: String = "ipsyncd", level: Logger.Level,
         fallback: TextLogHandler) {
        self.socket = socket
        self.identifier = identifier
        self.logLevel = level
        self.fallback = fallback
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = mergedMetadata(handler: metadata, provider: metadataProvider, event: event.metadata)
        var fields: [(String, String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(JournalLogHandler.priority(event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
        ]
        for key in merged.keys.sorted() {
            guard let name = JournalLogHandler.fieldName(key) else { continue }
            for value in JournalLogHandler.values(merged[key]!) { fields.append((name, value)) }
        }
        let entry = JournalLogHandler.encode(fields)
        var failure = socket.send(entry)
        if failure == EMSGSIZE || failure == ENOBUFS { failure = sendLarge(entry) }
        // journald gone (restarting, or never there): the line still goes somewhere a person can see it.
        if failure != 0 { fallback.log(event: event) }
    }

    /// journald takes an entry larger than a datagram as a sealed memfd passed over the socket.
    private func sendLarge(_ entry: [UInt8]) -> Int32 {
        guard let memfdCreate = JournalLogHandler.memfdCreate else { return ENOSYS }
        let fd = memfdCreate("ipsyncd-journal", 0x0001 | 0x0002)  // MFD_CLOEXEC | MFD_ALLOW_SEALING
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        if case let code = Posix.writeAll(fd, entry), code != 0 { return code }
        // F_ADD_SEALS with F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE: journald maps only sealed memfds.
        _ = fcntl(fd, 1033, Int32(0x1 | 0x2 | 0x4 | 0x8))
        return socket.send(passing: fd)
    }

    /// Glibc's module map does not export memfd_create (it sits behind _GNU_SOURCE), so it is looked up once.
    private static let memfdCreate: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32)? = {
        guard let symbol = dlsym(nil, "memfd_create") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32).self)
    }()

    /// syslog priorities; swift-log's `trace` has no syslog equivalent and shares `debug`'s.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A metadata key as a journal field name: upper case, [A-Z0-9_], not starting with `_` or a digit, ≤ 64 bytes.
    static func fieldName(_ key: String) -> String? {
        var name = String(key.uppercased().map { ch -> Character in
            ch.isASCII && (ch.isLetter || ch.isNumber) ? ch : "_"
        })
        while let first = name.first, first == "_" || first.isNumber { name.removeFirst() }
        if name.count > 64 { name = String(name.prefix(64)) }
        return name.isEmpty ? nil : name
    }

    static func values(_ value: Logger.Metadata.Value) -> [String] {
        switch value {
        case .array(let items): items.flatMap(values)
        default: [value.description]
        }
    }

    /// The native protocol: `NAME=value\n`, or for a value with a newline `NAME\n` + 64-bit LE length + bytes + `\n`.
    static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            let bytes = Array(value.utf8)
            out.append(contentsOf: name.utf8)
            if bytes.contains(UInt8(ascii: "\n")) {
                out.append(UInt8(ascii: "\n"))
                withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out.append(contentsOf: $0) }
            } else {
                out.append(UInt8(ascii: "="))
            }
            out.append(contentsOf: bytes)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }
}

/// Handler metadata, then the provider's, then the call's: later wins, as in swift-log's own handlers.
func mergedMetadata(handler: Logger.Metadata, provider: Logger.MetadataProvider?,
                    event: Logger.Metadata?) -> Logger.Metadata {
    var merged = handler
    if let provided = provider?.get() { merged.merge(provided) { _, new in new } }
    if let event { merged.merge(event) { _, new in new } }
    return merged
}
