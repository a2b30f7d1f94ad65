import Logging
import NginxApply

/// docs/design.md §8: one line per resync that says what happened, with its priority by outcome and the fields
/// IPSYNCD_ROUTE / IPSYNCD_SERVICE / IPSYNCD_OLD / IPSYNCD_NEW (one value per changed or kept route).
/// `retryIn`: when a failed resync will be tried again. `checkCommand` names the check in a failure
/// (`nginx -t: …`).
package func logResync(_ result: ResyncResult, logger: Logger, retryIn: Duration? = nil,
                      checkCommand: String = "nginx -t") {
    ResyncLine(result, retryIn: retryIn, checkCommand: checkCommand).log(to: logger)
}

extension ResyncLine {
    init(_ result: ResyncResult, retryIn: Duration?, checkCommand: String) {
        self.init(outcome: result.outcome)
        changes = result.changes.map { Change(route: $0.location, service: $0.service, old: $0.old, new: $0.new) }
        kept = result.kept.map { Kept(route: $0.location, service: $0.service, reason: $0.reason ?? "no usable address") }
        errors = (result.plan?.errors ?? []).filter { $0 != result.failure }
        if let report = result.report {
            check = Step(ok: true, duration: report.checkDuration)
            reload = Step(ok: report.confirmed, duration: report.reloadDuration)
        }
        if result.reloadedPending { notes.append("reloaded nginx for an earlier change") }
        if outcome == .failed {
            failure = Self.failureText(result, checkLabel: Self.checkLabel(checkCommand))
            self.retryIn = retryIn
        }
        if outcome == .dryRun { diff = String(decoding: result.diff, as: UTF8.self) }
    }

    /// `nginx -t -c {config}` → `nginx -t`: the command as a person would name it.
    static func checkLabel(_ command: String) -> String {
        var words: [Substring] = []
        for word in command.split(separator: " ") {
            if word == "-c" || word.hasPrefix("{") || word.hasPrefix("/") && !words.isEmpty { break }
            words.append(word.split(separator: "/").last ?? word)
        }
        return words.isEmpty ? "check" : words.joined(separator: " ")
    }

    static func failureText(_ result: ResyncResult, checkLabel: String) -> String {
        guard let error = result.applyError else { return result.failure ?? "unknown error" }
        let problem = markedProblemLine(error.output)
        switch error.code {
        case .checkFailed: return "\(checkLabel): " + (problem ?? error.message + lastLines(error.output))
        case .checkTimedOut: return "\(checkLabel): " + error.message
        case .reloadFailed: return "reload: " + (problem ?? error.message + lastLines(error.output))
        default: return error.message
        }
    }

    /// A command that failed without an nginx-style `[emerg]` line (a wrapper script, systemctl): the end
    /// of its output is where the reason usually is. The message already carries the exit status.
    static func lastLines(_ output: String, count: Int = 3) -> String {
        let lines = output.split(whereSeparator: \.isNewline).map { String($0).trimmingSuffixWhitespace() }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { return "; the command printed nothing" }
        let shown = lines.suffix(count)
        let label = lines.count > count ? "last \(count) of \(lines.count) lines of its output" : "its output"
        return "; \(label): " + shown.joined(separator: " | ")
    }

    /// The first line with an nginx severity marker, if any.
    static func markedProblemLine(_ output: String) -> String? {
        let markers = ["[emerg]", "[alert]", "[crit]", "[error]"]
        return output.split(whereSeparator: \.isNewline).map { String($0) }.first { line in markers.contains { line.contains($0) } }
    }

    /// nginx prints "syntax is ok" before an [emerg] found later: the first line that says what is wrong.
    static func firstProblemLine(_ output: String) -> String? {
        let lines = output.split(whereSeparator: \.isNewline).map { String($0) }.filter { !$0.allSatisfy(\.isWhitespace) }
        let markers = ["[emerg]", "[alert]", "[crit]", "[error]"]
        return lines.first { line in markers.contains { line.contains($0) } } ?? lines.first
    }
}
