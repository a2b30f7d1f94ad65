extension ConfigFile {
    /// `server` blocks at the top level (a site file) or inside `http`; never an upstream's `server` lines.
    public func servers() -> [Directive] {
        var found: [Directive] = []
        for top in directives {
            if top.name == "server", top.children != nil { found.append(top) }
            if top.name == "http", let children = top.children {
                found += children.filter { $0.name == "server" && $0.children != nil }
            }
        }
        return found
    }

    /// `location P`, `location = P` and `location ^~ P` blocks at any depth, in file order.
    /// Regex (`~`, `~*`) and named (`@name`) locations never match, nor does `/api` for `/api/`.
    public func locations(exactly path: String) -> [Directive] {
        collect { $0.isLocation(exactly: path) }
    }

    /// Every `location` block at any depth, in file order (see `Directive.locationModifier`).
    public func locations() -> [Directive] {
        collect { $0.name == "location" && $0.children != nil }
    }

    /// The `upstream NAME { … }` block, wherever it is.
    public func upstream(named name: String) -> Directive? {
        upstreamIndex()[name]
    }

    /// Every `include` at any depth, in file order.
    public func includes() -> [Directive] { directives(named: "include") }

    /// Every directive with this name at any depth, in file order.
    public func directives(named name: String) -> [Directive] {
        collect { $0.name == name }
    }

    /// `upstream` blocks by name (the first of a name wins, as `upstream(named:)` does), built once per query.
    func upstreamIndex() -> [String: Directive] {
        var index: [String: Directive] = [:]
        Directive.walk(directives) { directive in
            if directive.name == "upstream", directive.children != nil, let name = directive.arguments.first?.value,
               index[name] == nil {
                index[name] = directive
            }
        }
        return index
    }

    /// The directives that match, depth first, in file order (without copying the others).
    func collect(where matches: (Directive) -> Bool) -> [Directive] {
        var out: [Directive] = []
        Directive.walk(directives) { if matches($0) { out.append($0) } }
        return out
    }
}

extension Directive {
    /// A location's modifier (`=`, `^~`, `~`, `~*`, or `@` for a named location); nil for a plain
    /// prefix location or another directive. nginx also reads a modifier glued to the path (`=/x`).
    public var locationModifier: String? { locationParts?.modifier }

    /// A location's path or pattern, without its modifier (a named location keeps its `@name`).
    public var locationPath: String? { locationParts?.path }

    private var locationParts: (modifier: String?, path: String)? {
        guard name == "location", children != nil else { return nil }
        switch arguments.count {
        case 1:
            let value = arguments[0].value
            for modifier in ["=", "^~", "~*", "~", "@"] where value.hasPrefix(modifier) {
                return (modifier == "@" ? "@" : modifier, modifier == "@" ? value : String(value.dropFirst(modifier.count)))
            }
            return (nil, value)
        case 2:
            return (arguments[0].value, arguments[1].value)
        default:
            return nil
        }
    }

    func isLocation(exactly path: String) -> Bool {
        guard let parts = locationParts else { return false }
        return parts.path == path && (parts.modifier == nil || parts.modifier == "=" || parts.modifier == "^~")
    }

    /// Visits directives and their children depth first, in file order.
    static func walk(_ list: [Directive], _ visit: (Directive) -> Void) {
        for directive in list {
            visit(directive)
            if let children = directive.children { walk(children, visit) }
        }
    }
}
