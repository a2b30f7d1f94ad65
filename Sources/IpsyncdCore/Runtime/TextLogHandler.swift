import Logging

import Glibc
import Posix

/// Where text and JSON lines go: stderr by default, anything in tests. One call per whole line.
struct LineOutput: Sendable {
    let write: @Sendable ([UInt8]) -> Void

    static let standardError = LineOutput { bytes in Posix.writeAll(2, bytes) }
}

/// `LEVEL message key=value` for a terminal, with a UTC timestamp in front unless systemd's stream already stamps
/// the line (then a `<N>` syslog prefix carries the priority instead). Keys starting with `ipsyncd_` are journal
/// fields that repeat what the message says, so they are left out here (the json format keeps them).
struct TextLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let underJournalStream: Bool
    let output: LineOutput
    let clock: @Sendable () -> timespec

    init(level: Logger.Level, underJournalStream: Bool, output: LineOutput = .standardError,
         clock: @escaping @Sendable () -> timespec = Posix.realtimeNow) {
        self.logLevel = level
        self.underJournalStream = underJournalStream
        self.output = output
        self.clock = clock
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = mergedMetadata(handler: metadata, provider: metadataProvider, event: event.metadata)
        var line = underJournalStream
            ? "<\(JournalLogHandler.priority(event.level))>"
            : formatTimestamp(clock()) + " "
        line += TextLogHandler.levelWord(event.level) + " " + event.message.description
        for key in merged.keys.sorted() where !key.hasPrefix("ipsyncd_") {
            line += " \(key)=\(TextLogHandler.quoted(merged[key]!.description))"
        }
        line += "\n"
        output.write(Array(line.utf8))
    }

    static func levelWord(_ level: Logger.Level) -> String { level.rawValue.uppercased() }

    /// A value as one token: bare when it has no space, quote or control character, else quoted with escapes.
    static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && !value.unicodeScalars.contains {
            $0 == " " || $0 == "\"" || $0 == "=" || $0.value < 0x20 || $0.value == 0x7f
        }
        return plain ? value : "\"" + escaped(value) + "\""
    }
}

/// One JSON object per line: `time`, `level`, `message`, then each metadata key (arrays stay arrays).
struct JSONLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let output: LineOutput
    let clock: @Sendable () -> timespec

    init(level: Logger.Level, output: LineOutput = .standardError,
         clock: @escaping @Sendable () -> timespec = Posix.realtimeNow) {
        self.logLevel = level
        self.output = output
        self.clock = clock
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = mergedMetadata(handler: metadata, provider: metadataProvider, event: event.metadata)
        var line = "{\"time\":\"\(formatTimestamp(clock()))\",\"level\":\"\(event.level.rawValue)\""
        line += ",\"message\":\"\(escaped(event.message.description))\""
        for key in merged.keys.sorted() where !["time", "level", "message"].contains(key) {
            line += ",\"\(escaped(key))\":" + JSONLogHandler.json(merged[key]!)
        }
        line += "}\n"
        output.write(Array(line.utf8))
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .array(let items):
            return "[" + items.map(json).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            return "{" + dictionary.keys.sorted().map { "\"\(escaped($0))\":" + json(dictionary[$0]!) }
                .joined(separator: ",") + "}"
        default:
            return "\"" + escaped(value.description) + "\""
        }
    }
}

/// JSON string escaping (also used for quoted text values).
func escaped(_ value: String) -> String {
    var out = ""
    out.reserveCapacity(value.utf8.count)
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// `2026-11-27T08:17:34.123Z`
func formatTimestamp(_ time: timespec) -> String {
    var seconds = time_t(time.tv_sec)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
        + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        + ".\(pad(Int32(time.tv_nsec / 1_000_000), 3))Z"
}
