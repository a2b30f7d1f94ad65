/// What nginx's modules say about a directive's form, from the generated tables in
/// DirectiveTable.swift (scripts/gen-directive-table.py). A name no module defines is unknown here
/// and accepted in any form: its module may simply be missing on this machine.
enum DirectiveTable {
    /// Directives whose body nginx hands to the directive's own handler line by line (`cf->handler`
    /// in nginx 1.22 and Debian's modules): `types` (http core), `map`, `geo`, `split_clients` (http
    /// and stream), `charset_map` (charset filter), `geoip2` (http and stream geoip2 modules).
    /// `*_by_lua_block` bodies are Lua, read apart (LuaBlock.swift).
    static func hasCustomBody(_ name: String) -> Bool {
        switch name {
        case "types", "map", "geo", "split_clients", "charset_map", "geoip2": true
        default: false
        }
    }

    /// true when nginx wants `{` after the directive, false when it wants `;`, nil when it does not
    /// know the directive. `server` is simple inside an `upstream` (http or stream) and a block elsewhere.
    static func isBlock(_ name: String, parentName: String?) -> Bool? {
        if name == "server" { return parentName != "upstream" }
        var name = name
        return name.withUTF8 { name in index.lookup(name) }
    }

    private static let index = NameIndex(blockNames.map { ($0, true) } + simpleNames.map { ($0, false) })
}

/// The names of the tables laid out flat and grouped by a cheap hash of their length, first,
/// middle and last bytes: a lookup runs for each directive of a parse, and comparing the bytes of
/// the one or two names of a group costs a fraction of hashing a String.
private struct NameIndex: Sendable {
    static let groups = 4096
    /// All names' bytes, one after the other.
    let bytes: [UInt8]
    /// Per name, in group order: where its bytes start and whether it is a block.
    let starts: [Int32]
    let isBlock: [Bool]
    /// Group g holds names groupStarts[g]..<groupStarts[g + 1].
    let groupStarts: [Int32]

    static func group(_ name: UnsafeBufferPointer<UInt8>) -> Int {
        let count = name.count
        guard count > 0 else { return 0 }
        let mix = count &* 31 &+ Int(name[0]) &* 7 &+ Int(name[count / 2]) &* 131 &+ Int(name[count - 1]) &* 13
        return mix & (groups - 1)
    }

    init(_ names: [(String, Bool)]) {
        let grouped = names.map { (name, isBlock) -> (Int, [UInt8], Bool) in
            let bytes = Array(name.utf8)
            return (bytes.withUnsafeBufferPointer(Self.group), bytes, isBlock)
        }.sorted { $0.0 < $1.0 }
        var bytes: [UInt8] = [], starts: [Int32] = [], isBlock: [Bool] = []
        var groupStarts = [Int32](repeating: 0, count: Self.groups + 1)
        for (group, name, block) in grouped {
            starts.append(Int32(bytes.count))
            bytes += name
            isBlock.append(block)
            groupStarts[group + 1] += 1
        }
        for g in 1..<groupStarts.count { groupStarts[g] += groupStarts[g - 1] }
        (self.bytes, self.starts, self.isBlock, self.groupStarts) = (bytes, starts, isBlock, groupStarts)
    }

    func lookup(_ name: UnsafeBufferPointer<UInt8>) -> Bool? {
        guard !name.isEmpty else { return nil }
        let group = Self.group(name)
        return bytes.withUnsafeBufferPointer { bytes in
            var entry = Int(groupStarts[group])
            let end = Int(groupStarts[group + 1])
            while entry < end {
                let start = Int(starts[entry])
                let length = (entry + 1 < starts.count ? Int(starts[entry + 1]) : bytes.count) - start
                if length == name.count {
                    var i = 0
                    while i < length, bytes[start + i] == name[i] { i += 1 }
                    if i == length { return isBlock[entry] }
                }
                entry += 1
            }
            return nil
        }
    }
}
