/// The one error type of the applier: what failed, what to do, and the command's own output.
public struct ApplyError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case lockBusy, siteUnreadable, siteChanged, stageFailed, checkFailed, checkTimedOut,
             writeFailed, reloadFailed, reloadTimedOut, reloadNotConfirmed, stateDir
    }

    public var code: Code
    /// Names the file or command and what to do.
    public var message: String
    /// The check or reload command's own output (empty when no command ran).
    public var output: String

    package init(code: Code, message: String, output: String = "") {
        self.code = code
        self.message = message
        self.output = output
    }

    public var description: String {
        let trimmed = output.trimmingSuffixWhitespace()
        return trimmed.isEmpty ? message : message + "\n" + trimmed
    }
}

extension String {
    package func trimmingSuffixWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
