/// The one error type of NginxConf: where (file, line, column, the line's text, the route) and what to do.
public struct NginxConfError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        // syntax, worded as nginx -t words them
        case unexpectedEnd, unexpectedCloseBrace, unexpectedSemicolon, unterminatedQuote,
             missingSemicolon, unexpectedOpenBrace, invalidDirective, tooLong
        // route targets (docs/design.md §5)
        case locationMissing, noTarget, variableInProxyPass, upstreamSeveralServers,
             upstreamMissing, unsupportedTarget
        // template mode
        case unknownTemplateName, unclosedTemplateTag
    }

    public var code: Code
    public var file: String
    /// 1-based; 0 when the error is not tied to a line.
    public var line: Int
    /// 1-based, in bytes.
    public var column: Int
    /// The offending line, decoded leniently, for humans.
    public var lineText: String
    /// The route's location argument, for target errors.
    public var route: String?
    public var message: String

    package init(code: Code, file: String, line: Int = 0, column: Int = 0, lineText: String = "",
                route: String? = nil, message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.lineText = lineText
        self.route = route
        self.message = message
    }

    public var description: String {
        var where_ = file
        if line > 0 { where_ += ":\(line)" + (column > 0 ? ":\(column)" : "") }
        var text = "\(where_): " + (route.map { "route \($0): " } ?? "") + message
        if !lineText.isEmpty { text += "\n    " + lineText }
        return text
    }
}
