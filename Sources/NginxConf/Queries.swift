extension ConfigFile {
    /// `server` blocks at the top level (a site file) or inside `http`; never an upstream's `server` lines.
    package func servers() -> [Directive] {
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
    package func upstream(named name: String) -> Directive? {
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
        routeIndex(routes: []).upstreams
    }

    /// The upstreams and the `location` blocks of `routes` (as `locations(exactly:)` finds them), in one
    /// walk that copies only the directives it keeps: the rewriter's queries, once per rewrite.
    func routeIndex(routes: some Sequence<String>) -> RouteIndex {
        var index = RouteIndex()
        for route in routes { index.locations[route] = [] }
        index.add(directives)
        return index
    }

    /// The directives that match, depth first, in file order (without copying the others).
    func collect(where matches: (borrowing Directive) -> Bool) -> [Directive] {
        var out: [Directive] = []
        Directive.collect(directives, into: &out, where: matches)
        return out
    }
}

/// See `ConfigFile.routeIndex(routes:)`.
struct RouteIndex {
    /// `upstream` blocks by name; the first of a name wins.
    var upstreams: [String: Directive] = [:]
    /// Each route's `location` blocks at any depth, in file order.
    var locations: [String: [Directive]] = [:]

    fileprivate mutating func add(_ list: [Directive]) {
        list.withUnsafeBufferPointer { list in
            for i in list.indices {
                // Fields are read in place: copying every `Directive` was most of a rewrite's cost.
                guard list[i].children != nil else { continue }
                if list[i].hasName("location") {
                    if let parts = list[i].locationParts, locations[parts.path] != nil, isPrefixOrExact(parts.modifier) {
                        locations[parts.path]!.append(list[i])
                    }
                } else if list[i].hasName("upstream"), let name = list[i].arguments.first?.value, upstreams[name] == nil {
                    upstreams[name] = list[i]
                }
                add(list[i].children!)
            }
        }
    }
}

extension Directive {
    /// A location's modifier (`=`, `^~`, `~`, `~*`, or `@` for a named location); nil for a plain
    /// prefix location or another directive. nginx also reads a modifier glued to the path (`=/x`).
    package var locationModifier: String? { locationParts?.modifier }

    /// A location's path or pattern, without its modifier (a named location keeps its `@name`).
    package var locationPath: String? { locationParts?.path }

    fileprivate var locationParts: (modifier: String?, path: String)? {
        guard children != nil, hasName("location") else { return nil }
        switch arguments.count {
        case 1:
            let value = arguments[0].value
            // Most paths start with "/": no modifier can be glued to them.
            if let first = value.utf8.first, first != UInt8(ascii: "="), first != UInt8(ascii: "^"),
               first != UInt8(ascii: "~"), first != UInt8(ascii: "@") {
                return (nil, value)
            }
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
        return parts.path == path && isPrefixOrExact(parts.modifier)
    }

    /// `name == expected`, with the cheap length test first: most names differ in length.
    @inline(__always) func hasName(_ expected: String) -> Bool {
        name.utf8.count == expected.utf8.count && name == expected
    }

    /// Appends the directives of `list` and their children that match, depth first, in file order;
    /// only the matches are copied.
    static func collect(_ list: [Directive], into out: inout [Directive], where matches: (borrowing Directive) -> Bool) {
        list.withUnsafeBufferPointer { list in
            for i in list.indices {
                if matches(list[i]) { out.append(list[i]) }
                if list[i].children != nil { collect(list[i].children!, into: &out, where: matches) }
            }
        }
    }
}

/// The modifiers `location(exactly:)` accepts: none, `=` and `^~` (never a regex or a named location).
private func isPrefixOrExact(_ modifier: String?) -> Bool {
    modifier == nil || modifier == "=" || modifier == "^~"
}
