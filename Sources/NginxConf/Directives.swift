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
        return kinds[name]
    }

    private static let kinds: [String: Bool] = {
        var kinds = [String: Bool](minimumCapacity: blockNames.count + simpleNames.count)
        for name in blockNames { kinds[name] = true }
        for name in simpleNames { kinds[name] = false }
        return kinds
    }()
}
