extension ConfigFile {
    /// New bytes in which only the address bytes of each route's targets change. A target's port
    /// stays omitted when it was and the new port is the default one. A route that fails is
    /// reported in `errors`; the other routes are still rewritten.
    public func rewrite(_ edits: [RouteEdit]) -> RewriteResult {
        struct Claim { var edit: Int; var target: RoutedTarget; var new: String }
        var claims: [Int: Claim] = [:]   // by the target's first byte
        var errors: [NginxConfError] = []
        let index = routeIndex(routes: edits.map(\.route))

        for (editIndex, edit) in edits.enumerated() {
            let targets: [RoutedTarget]
            switch routedTargets(route: edit.route, locations: index.locations[edit.route]!, upstreams: index.upstreams) {
            case .failure(let error): errors.append(error); continue
            case .success(let found): targets = found
            }
            var mine: [Int: Claim] = [:]
            var conflict: Claim?
            var rendered: [Int: String] = [:]  // by default port, negated when the old target has no port
            for target in targets {
                let key = target.target.byteRange.lowerBound
                let style = target.hasPort ? target.defaultPort : -target.defaultPort
                let new = rendered[style] ?? renderAddress(new: edit.address, oldHasPort: target.hasPort, defaultPort: target.defaultPort)
                rendered[style] = new
                let claim = Claim(edit: editIndex, target: target, new: new)
                guard let other = claims[key] else { mine[key] = claim; continue }
                // A location nested in another route's location belongs to the inner route.
                if other.target.location.contains(target.location.lowerBound) && other.target.location != target.location {
                    mine[key] = claim
                } else if target.location.contains(other.target.location.lowerBound) && other.target.location != target.location {
                    continue
                } else if other.new != claim.new {
                    conflict = other
                }
            }
            if let conflict {
                let t = conflict.target.target
                errors.append(NginxConfError(code: .unsupportedTarget, file: path, line: t.line, column: t.column,
                                             lineText: lineText(containing: t.byteRange.lowerBound), route: edit.route,
                                             message: "this target also belongs to route \(edits[conflict.edit].route), which wants \(conflict.new): give each route its own proxy_pass or upstream"))
                continue
            }
            claims.merge(mine) { _, new in new }
        }

        let ordered = claims.keys.sorted().map { claims[$0]! }  // Int keys sort cheaper than Claims
        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.count + 64)
        var copied = 0
        var changes: [(edit: Int, change: TargetChange)] = []
        for claim in ordered where claim.new != claim.target.target.address {
            let t = claim.target.target
            bytes.append(contentsOf: source[copied..<t.byteRange.lowerBound])
            bytes.append(contentsOf: claim.new.utf8)
            copied = t.byteRange.upperBound
            changes.append((claim.edit, TargetChange(route: edits[claim.edit].route, old: t.address, new: claim.new, line: t.line)))
        }
        if changes.isEmpty { return RewriteResult(bytes: source, changes: [], errors: errors) }
        bytes.append(contentsOf: source[copied...])
        let sorted = changes.enumerated().sorted { ($0.element.edit, $0.offset) < ($1.element.edit, $1.offset) }.map(\.element.change)
        return RewriteResult(bytes: bytes, changes: sorted, errors: errors)
    }
}
