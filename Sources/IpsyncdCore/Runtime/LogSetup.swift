import Logging

import Glibc

/// `log_format` (docs/design.md §4): `auto` is `journal` under systemd (stderr is the journal stream), else `text`.
public enum LogFormat: String, Sendable, CaseIterable {
    case auto, journal, text, json
}

public enum LogSetup {
    /// Installs the process-wide handler; call once, first thing in `main`.
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        // One handler (one journal socket) for the process; every Logger gets a copy of it.
        let handler = makeHandler(format: format, level: level, environment: ProcessEnvironment.current)
        LoggingSystem.bootstrap { _ in handler }
    }

    /// The format `auto` resolves to, and whether stderr is systemd's journal stream.
    static func resolve(_ format: LogFormat, environment: [String: String],
                        journalSocket: String = JournalLogHandler.defaultSocketPath) -> LogFormat {
        guard format == .auto else { return format }
        let socketExists = access(journalSocket, W_OK) == 0
        return isJournalStream(environment["JOURNAL_STREAM"]) && socketExists ? .journal : .text
    }

    static func makeHandler(format: LogFormat, level: Logger.Level, environment: [String: String],
                            journalSocket: String = JournalLogHandler.defaultSocketPath,
                            output: LineOutput = .standardError) -> any LogHandler {
        let stream = isJournalStream(environment["JOURNAL_STREAM"])
        let text = TextLogHandler(level: level, underJournalStream: stream, output: output)
        switch resolve(format, environment: environment, journalSocket: journalSocket) {
        case .journal:
            guard let socket = try? UnixDatagramSocket(path: journalSocket) else { return text }
            return JournalLogHandler(socket: socket, level: level, fallback: text)
        case .json:
            return JSONLogHandler(level: level, output: output)
        case .text, .auto:
            return text
        }
    }

    /// systemd sets JOURNAL_STREAM=dev:inode of the stream it connected to stderr; a child that inherits the
    /// variable but has its stderr elsewhere (a terminal, a pipe) must not take it for the journal.
    static func isJournalStream(_ value: String?) -> Bool {
        guard let value else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(2, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}

enum ProcessEnvironment {
    /// The environment as a dictionary, without Foundation.
    static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
