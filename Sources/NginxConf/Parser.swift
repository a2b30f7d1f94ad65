/// One pass over the bytes, following nginx's `ngx_conf_read_token`: words end at whitespace, `;`
/// or `{` (not at `}`), a `{` right after `$` belongs to the word, quotes and backslash escapes,
/// `#` comments only where a token may start, and a closing quote must be followed by whitespace,
/// `;`, `{` or `)`. Tokens and trivia are recorded as ranges so that printing is lossless.
struct Parser {
    let path: String
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0
    var line = 1
    var lineStart = 0
    var tokens: [Token] = []
    var depth = 0
    /// Far beyond any real config; keeps a hostile file from exhausting the stack.
    static let maxDepth = 200

    static func parse(_ source: [UInt8], path: String) throws(NginxConfError) -> ConfigFile {
        let result: Result<([Token], [Directive]), NginxConfError> = source.withUnsafeBufferPointer { buffer in
            var parser = Parser(path: path, bytes: buffer)
            parser.tokens.reserveCapacity(source.count / 4 + 1)
            do throws(NginxConfError) {
                let directives = try parser.parseBlock(opener: nil, parentName: nil, isCustomBody: false)
                return .success((parser.tokens, directives))
            } catch {
                return .failure(error)
            }
        }
        let (tokens, directives) = try result.get()
        return ConfigFile(path: path, source: source, tokens: tokens, directives: directives)
    }

    struct Opener { var name: String; var line: Int; var column: Int }

    /// A custom body (`map`, `types`, ...: see `DirectiveTable.hasCustomBody`) is handed by nginx to
    /// its directive's own handler: every line is a key and values, no directive rule applies, and a
    /// `{` in it is an error.
    private mutating func parseBlock(opener: Opener?, parentName: String?,
                                     isCustomBody: Bool) throws(NginxConfError) -> [Directive] {
        var directives: [Directive] = []
        // The directive being read: its name, then its arguments (moved into the Directive, not copied).
        var name: Argument?
        var arguments: [Argument] = []
        var afterQuote = false
        let end = bytes.count
        while true {
            guard pos < end else {
                if let name {
                    throw error(.unexpectedEnd, at: pos,
                                "unexpected end of file, expecting \";\" or \"}\": end the directive \"\(name.value)\" with \";\"")
                }
                if let opener {
                    throw error(.unexpectedEnd, at: pos,
                                "unexpected end of file, expecting \"}\": close the block \"\(opener.name)\" opened at line \(opener.line)")
                }
                return directives
            }
            let c = bytes[pos]
            if afterQuote {
                afterQuote = false
                if !(isSpace(c) || c == UInt8(ascii: ";") || c == UInt8(ascii: "{") || c == UInt8(ascii: ")")) {
                    throw error(.invalidDirective, at: pos,
                                "unexpected \"\(Character(Unicode.Scalar(c)))\": put a space after the closing quote")
                }
            }
            switch c {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                var i = pos + 1
                while i < end, isSpace(bytes[i]) { i += 1 }
                emit(.whitespace, pos, i)
            case UInt8(ascii: "#"):
                var i = pos + 1
                while i < end, bytes[i] != UInt8(ascii: "\n") { i += 1 }
                try checkLength(tokenStart: pos, lastRead: i)
                emit(.comment, pos, i)
            case UInt8(ascii: ";"):
                guard let first = name else {
                    throw error(.unexpectedSemicolon, at: pos, "unexpected \";\": remove it, or put the directive's name before it")
                }
                if !isCustomBody { try checkTerminator(first, parentName: parentName, block: false) }
                emit(.semicolon, pos, pos + 1)
                directives.append(directive(first, arguments, children: nil, endingBefore: pos))
                name = nil
                arguments = []
            case UInt8(ascii: "{"):
                guard let first = name else {
                    throw error(.unexpectedOpenBrace, at: pos, "unexpected \"{\": a block needs a directive name before it")
                }
                if isCustomBody {
                    throw error(.unexpectedOpenBrace, at: pos,
                                "unexpected \"{\": the body of \"\(parentName ?? "")\" holds keys and values, not blocks")
                }
                try checkTerminator(first, parentName: parentName, block: true)
                emit(.openBrace, pos, pos + 1)
                let here = Opener(name: first.value, line: first.line, column: first.column)
                let children: [Directive]
                if first.value.hasSuffix("_by_lua_block") {
                    try skipLuaBody(opener: here)
                    children = []
                } else {
                    guard depth < Self.maxDepth else {
                        throw error(.invalidDirective, at: first.byteRange.lowerBound,
                                    "blocks nested more than \(Self.maxDepth) deep: this is not a config nginx is meant to read")
                    }
                    depth += 1
                    let isCustomBody = DirectiveTable.hasCustomBody(first.value)
                    let body = try parseBlock(opener: here, parentName: first.value, isCustomBody: isCustomBody)
                    // Keys and values are no directives: no query may take a `proxy_pass` key in
                    // `types` for a target.
                    children = isCustomBody ? [] : body
                    depth -= 1
                }
                directives.append(directive(first, arguments, children: children, endingBefore: pos))
                name = nil
                arguments = []
            case UInt8(ascii: "}"):
                if let name {
                    throw error(.missingSemicolon, at: pos,
                                "unexpected \"}\": the directive \"\(name.value)\" needs a \";\" before it")
                }
                guard opener != nil else {
                    throw error(.unexpectedCloseBrace, at: pos, "unexpected \"}\": it closes no block; remove it")
                }
                emit(.closeBrace, pos, pos + 1)
                return directives
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let token = try quoted(c, isName: name == nil)
                if name == nil { name = token } else { arguments.append(token) }
                afterQuote = true
            default:
                let token = try word(isName: name == nil)
                if name == nil { name = token } else { arguments.append(token) }
            }
        }
    }

    /// Records a token and advances past it, keeping the line count.
    mutating func emit(_ kind: Token.Kind, _ start: Int, _ end: Int) {
        tokens.append(Token(kind: kind, start: start, end: end))
        var i = start
        while i < end {
            if bytes[i] == UInt8(ascii: "\n") { line += 1; lineStart = i + 1 }
            i += 1
        }
        pos = end
    }

    /// The directive whose last byte (`;` or `}`) is just before `end`.
    private func directive(_ name: Argument, _ arguments: [Argument], children: [Directive]?,
                           endingBefore end: Int) -> Directive {
        Directive(name: name.value, arguments: arguments, children: children,
                         line: name.line, column: name.column, byteRange: name.byteRange.lowerBound..<end)
    }

    /// A name's `raw` stays empty: the directive keeps only its decoded value.
    private mutating func quoted(_ quote: UInt8, isName: Bool) throws(NginxConfError) -> Argument {
        let start = pos, startLine = line, column = pos - lineStart + 1
        var i = pos + 1
        while true {
            guard i < bytes.count else {
                // nginx gives up on a parameter longer than its buffer before it sees the end of the file.
                try checkLength(tokenStart: start + 1, lastRead: i, unclosedQuote: quote)
                let opening = error(.unterminatedQuote, at: start, "")
                throw error(.unterminatedQuote, at: bytes.count,
                            "unexpected end of file, expecting \";\" or \"}\": the quote \(Character(Unicode.Scalar(quote))) "
                            + "opened at line \(opening.line) is never closed:\n    \(opening.lineText)")
            }
            let c = bytes[i]
            if c == UInt8(ascii: "\\") { i += 2; continue }
            i += 1
            if c == quote { break }
        }
        // nginx's parameter starts after the opening quote; it reads the byte after the closing one,
        // and one more when that byte is a space.
        try checkLength(tokenStart: start + 1, lastRead: i < bytes.count && isSpace(bytes[i]) ? i + 1 : i)
        emit(.quoted, start, i)
        return Argument(value: decode(start + 1, i - 1), raw: isName ? [] : Array(bytes[start..<i]), byteRange: start..<i,
                        isQuoted: true, line: startLine, column: column)
    }

    private mutating func word(isName: Bool) throws(NginxConfError) -> Argument {
        let start = pos, startLine = line, column = pos - lineStart + 1
        var i = pos
        var variable = false
        let end = bytes.count
        while i < end {
            let c = bytes[i]
            if c == UInt8(ascii: "{") && variable { i += 1; continue }
            variable = false
            if c == UInt8(ascii: "\\") { i += 2; continue }
            if c == UInt8(ascii: "$") { variable = true; i += 1; continue }
            if isSpace(c) || c == UInt8(ascii: ";") || c == UInt8(ascii: "{") { break }
            i += 1
        }
        // nginx reads the delimiter, and one more byte when the delimiter is a space.
        try checkLength(tokenStart: start, lastRead: i < end && isSpace(bytes[i]) ? i + 1 : i)
        if i > end {  // a backslash as the very last byte
            throw error(.unexpectedEnd, at: end, "unexpected end of file, expecting \";\" or \"}\": the file ends in a \"\\\"")
        }
        emit(.word, start, i)
        return Argument(value: decode(start, i), raw: isName ? [] : Array(bytes[start..<i]), byteRange: start..<i,
                        isQuoted: false, line: startLine, column: column)
    }

    /// nginx's unescaping: `\"`, `\'`, `\\` give the character, `\t` `\r` `\n` control characters;
    /// any other backslash stays.
    private func decode(_ start: Int, _ end: Int) -> String {
        let slice = UnsafeBufferPointer(rebasing: bytes[start..<end])
        guard slice.contains(UInt8(ascii: "\\")) else { return String(decoding: slice, as: UTF8.self) }
        var out = [UInt8]()
        out.reserveCapacity(slice.count)
        var i = 0
        while i < slice.count {
            let c = slice[i]
            if c == UInt8(ascii: "\\"), i + 1 < slice.count {
                let next = slice[i + 1]
                switch next {
                case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "\\"):
                    out.append(next); i += 2; continue
                case UInt8(ascii: "t"): out.append(9); i += 2; continue
                case UInt8(ascii: "r"): out.append(13); i += 2; continue
                case UInt8(ascii: "n"): out.append(10); i += 2; continue
                default: break
                }
            }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nginx rejects a known block directive ended by `;` and a known simple directive opening a
    /// block, naming the line of the `;` or `{`. Argument counts are left to nginx: it checks them
    /// per context, and for many directives only in the directive's handler.
    private func checkTerminator(_ name: Argument, parentName: String?, block: Bool) throws(NginxConfError) {
        guard let isBlock = DirectiveTable.isBlock(name.value, parentName: parentName) else { return }
        if !block && isBlock {
            throw error(.invalidDirective, at: pos,
                        "directive \"\(name.value)\" has no opening \"{\": give it a block")
        }
        if block && !isBlock {
            throw error(.invalidDirective, at: pos,
                        "directive \"\(name.value)\" is not terminated by \";\": end it with \";\" instead of a block")
        }
    }

    /// nginx reads a config through a buffer of `bufferSize` bytes and rejects a parameter (or a
    /// comment) that fills it: the token starting at `tokenStart` fails when nginx must read the byte
    /// at `tokenStart + bufferSize` or later (bytes up to `lastRead`) before the token is done.
    static let bufferSize = 4096

    @inline(__always)
    func checkLength(tokenStart: Int, lastRead: Int, unclosedQuote: UInt8? = nil) throws(NginxConfError) {
        if lastRead - tokenStart >= Self.bufferSize { try checkLengthAtEnd(tokenStart: tokenStart, lastRead: lastRead, unclosedQuote: unclosedQuote) }
    }

    /// The rare part of `checkLength`: nginx reads no byte past the end of the file.
    private func checkLengthAtEnd(tokenStart: Int, lastRead: Int, unclosedQuote: UInt8?) throws(NginxConfError) {
        guard min(lastRead, bytes.count - 1) - tokenStart >= Self.bufferSize else { return }
        let head = String(decoding: UnsafeBufferPointer(rebasing: bytes[tokenStart..<(tokenStart + 10)]), as: UTF8.self)
        throw error(.tooLong, at: tokenStart,
                    unclosedQuote.map { "too long parameter, probably missing terminating \"\(Character(Unicode.Scalar($0)))\" character: close the quote" }
                    ?? "too long parameter \"\(head)...\" started: nginx reads at most \(Self.bufferSize - 1) bytes of one parameter or comment")
    }

    func error(_ code: NginxConfError.Code, at offset: Int, _ message: String) -> NginxConfError {
        // `line` and `lineStart` describe the end of the last token; count from there (or from the
        // start, for an offset before it, such as a quote's opening).
        var errorLine = line, start = lineStart, i = lineStart
        if offset < lineStart { errorLine = 1; start = 0; i = 0 }
        while i < offset {
            if bytes[i] == UInt8(ascii: "\n") { errorLine += 1; start = i + 1 }
            i += 1
        }
        return NginxConfError(code: code, file: path, line: errorLine, column: offset - start + 1,
                              lineText: lineText(bytes, lineStartingAt: start), message: message)
    }
}

@inline(__always) func isSpace(_ c: UInt8) -> Bool {
    c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") || c == UInt8(ascii: "\n")
}

/// The text of the line that starts at `start`, without its line ending, decoded leniently.
func lineText(_ bytes: UnsafeBufferPointer<UInt8>, lineStartingAt start: Int) -> String {
    var end = start
    while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
    if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
    return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
}
