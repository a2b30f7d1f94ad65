/// A parsed config: every byte of the input lives in the tree, as tokens and trivia
/// (whitespace, comments, opaque Lua bodies), so `printed()` gives back the input exactly.
public struct ConfigFile: Sendable {
    public let path: String
    /// Top-level directives, in file order.
    public let directives: [Directive]
    /// The parsed bytes; tokens are ranges into them.
    let source: [UInt8]
    /// Every byte of `source`, in order: syntax tokens and trivia.
    let tokens: [Token]

    init(path: String, source: [UInt8], tokens: [Token], directives: [Directive]) {
        self.path = path
        self.source = source
        self.tokens = tokens
        self.directives = directives
    }

    /// Parses nginx configuration bytes with nginx's own tokenizer rules; `path` is used in errors.
    public static func parse(_ bytes: [UInt8], path: String) throws(NginxConfError) -> ConfigFile {
        try Parser.parse(bytes, path: path)
    }

    /// The file's bytes, rebuilt from its tokens and trivia; equal to the parsed bytes.
    public func printed() -> [UInt8] {
        // One copy of each token's bytes into storage sized once: no per-token append overhead.
        let count = tokens.reduce(0) { $0 + ($1.end - $1.start) }
        return source.withUnsafeBufferPointer { source in
            [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
                for token in tokens where token.end > token.start {
                    let length = token.end - token.start
                    (out.baseAddress! + initialized).initialize(from: source.baseAddress! + token.start, count: length)
                    initialized += length
                }
            }
        }
    }
}

/// One directive: its name, arguments and, for a block directive, its children.
public struct Directive: Sendable {
    /// The decoded first word.
    public var name: String
    public var arguments: [Argument]
    /// nil when the directive ends with `;`; empty for an empty block, an opaque `*_by_lua_block`
    /// and a body of keys and values (`map`, `types`, ...: `DirectiveTable.hasCustomBody`).
    public var children: [Directive]?
    public var line: Int
    public var column: Int
    /// From the name's first byte to the closing `;` or `}`, inclusive.
    public var byteRange: Range<Int>
}

/// One argument of a directive.
public struct Argument: Sendable {
    /// Quotes removed and escapes resolved as nginx does, decoded leniently.
    public var value: String
    /// The bytes exactly as in the file, quotes included.
    public var raw: [UInt8]
    public var byteRange: Range<Int>
    package var isQuoted: Bool
    public var line: Int
    public var column: Int
}

/// A run of bytes in the file; tokens tile the file without gaps or overlaps.
struct Token: Sendable {
    enum Kind: UInt8, Sendable { case whitespace, comment, word, quoted, semicolon, openBrace, closeBrace, luaBody }
    var kind: Kind
    var start: Int
    var end: Int
}
