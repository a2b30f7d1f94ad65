extension Parser {
    /// The body of a `*_by_lua_block` is Lua, kept as one opaque token: braces are counted,
    /// skipping Lua strings, `--` comments and long brackets `[[ ]]` / `[==[ ]==]`.
    mutating func skipLuaBody(opener: Opener) throws(NginxConfError) {
        let start = pos, end = bytes.count
        var i = pos, depth = 1
        while i < end {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"):
                depth += 1; i += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 {
                    if i > start { emit(.luaBody, start, i) }
                    emit(.closeBrace, i, i + 1)
                    return
                }
                i += 1
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                i += 1
                while i < end, bytes[i] != c, bytes[i] != UInt8(ascii: "\n") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                if i < end, bytes[i] == c { i += 1 }
            case UInt8(ascii: "-") where i + 1 < end && bytes[i + 1] == UInt8(ascii: "-"):
                i += 2
                if let after = longBracketEnd(from: i) {
                    i = after
                } else {
                    while i < end, bytes[i] != UInt8(ascii: "\n") { i += 1 }
                }
            case UInt8(ascii: "["):
                i = longBracketEnd(from: i) ?? (i + 1)
            default:
                i += 1
            }
        }
        throw error(.unexpectedEnd, at: end,
                    "unexpected end of file, expecting \"}\": close the Lua block \"\(opener.name)\" opened at line \(opener.line)")
    }

    /// If a Lua long bracket `[=*[` opens at `i`, the index just past its closing `]=*]` (or the end).
    private func longBracketEnd(from i: Int) -> Int? {
        let end = bytes.count
        guard i < end, bytes[i] == UInt8(ascii: "[") else { return nil }
        var j = i + 1, level = 0
        while j < end, bytes[j] == UInt8(ascii: "=") { level += 1; j += 1 }
        guard j < end, bytes[j] == UInt8(ascii: "[") else { return nil }
        j += 1
        while j < end {
            if bytes[j] == UInt8(ascii: "]") {
                var k = j + 1, closing = 0
                while k < end, bytes[k] == UInt8(ascii: "="), closing < level { closing += 1; k += 1 }
                if closing == level, k < end, bytes[k] == UInt8(ascii: "]") { return k + 1 }
            }
            j += 1
        }
        return end
    }
}
