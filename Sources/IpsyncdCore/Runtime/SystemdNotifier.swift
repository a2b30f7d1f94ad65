import Glibc

/// The sd_notify protocol spoken directly: one datagram of `KEY=value` lines to `$NOTIFY_SOCKET` (a path, or
/// `@name` in the abstract namespace). Outside systemd (no NOTIFY_SOCKET) every call does nothing.
package struct SystemdNotifier: Sendable {
    private let socket: UnixDatagramSocket?
    /// Half of `WATCHDOG_USEC` when the watchdog is meant for this process (WATCHDOG_PID unset or ours), else nil.
    package let watchdogInterval: Duration?

    package init(environment: [String: String]) {
        socket = environment["NOTIFY_SOCKET"].flatMap { try? UnixDatagramSocket(path: $0) }
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if pidMatches, let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            watchdogInterval = .microseconds(usec) / 2
        } else {
            watchdogInterval = nil
        }
    }

    /// Reads the process environment.
    package init() { self.init(environment: ProcessEnvironment.current) }

    package var isActive: Bool { socket != nil }

    package func ready(status: String) { send([("READY", "1"), ("STATUS", status)]) }
    package func status(_ text: String) { send([("STATUS", text)]) }
    package func watchdog() { if watchdogInterval != nil { send([("WATCHDOG", "1")]) } }
    package func stopping(status: String) { send([("STOPPING", "1"), ("STATUS", status)]) }

    /// Values are single lines by protocol: a newline would start a new assignment.
    func send(_ assignments: [(String, String)]) {
        guard let socket else { return }
        let text = assignments.map { key, value in
            key + "=" + String(value.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
        }.joined(separator: "\n")
        socket.send(Array(text.utf8))
    }
}
