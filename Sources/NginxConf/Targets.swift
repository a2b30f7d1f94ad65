/// A route's target with what the rewriter needs to know about it.
struct RoutedTarget {
    var target: ProxyTarget
    var hasPort: Bool
    var defaultPort: Int
    /// The route's location block the target was found in (inner locations win over outer ones).
    var location: Range<Int>
}

extension ConfigFile {
    /// Targets of one route (docs/design.md §5): the address of every `proxy_pass` inside each
    /// `location ROUTE` block at any depth, or of the single `server` of the upstream it names.
    public func targets(route location: String) -> Result<[ProxyTarget], NginxConfError> {
        let index = routeIndex(routes: [location])
        return routedTargets(route: location, locations: index.locations[location]!, upstreams: index.upstreams).map { $0.map(\.target) }
    }

    /// proxy_pass and upstream `server` targets outside `routes` whose host (without port or
    /// brackets) is in `hosts`: they point at a routed Service but ipsyncd will not update them.
    public func strayTargets(routes: [String], hosts: Set<String>) -> [ProxyTarget] {
        // Hosts compare without brackets and case-insensitively (IPv6 hex digits).
        let hosts = Set(hosts.map { host in
            host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()).lowercased() : host.lowercased()
        })
        let index = routeIndex(routes: routes)
        let routed = routes.flatMap { index.locations[$0]!.map(\.byteRange) }
        let upstreams = index.upstreams
        let exists = { (name: String) in upstreams[name] != nil }
        var strays: [ProxyTarget] = []
        var upstreamsFollowingARoute: Set<String> = []

        func visit(_ list: [Directive], enclosing: String) {
            for directive in list {
                let inRoute = routed.contains { $0.contains(directive.byteRange.lowerBound) }
                if directive.name == "proxy_pass", let argument = directive.arguments.first,
                   let parsed = try? parseProxyPass(argument, upstreamExists: exists) {
                    switch parsed {
                    case .upstream(_, let name):
                        if inRoute { upstreamsFollowingARoute.insert(name) }
                    case .address(let scheme, let span):
                        if !inRoute, hosts.contains(span.host.lowercased()) {
                            strays.append(target(span, kind: .proxyPass, route: enclosing, scheme: scheme, argument: argument))
                        }
                    }
                }
                if let children = directive.children {
                    let isLocation = directive.name == "location" && !directive.arguments.isEmpty
                    visit(children, enclosing: isLocation ? directive.arguments.last!.value : enclosing)
                }
            }
        }
        visit(directives, enclosing: "")

        for (name, upstream) in upstreams where !upstreamsFollowingARoute.contains(name) {
            for server in upstream.children! where server.name == "server" {
                guard let argument = server.arguments.first,
                      let span = try? parseUpstreamServer(argument, upstream: name),
                      hosts.contains(span.host.lowercased()) else { continue }
                strays.append(target(span, kind: .upstreamServer(upstream: name), route: "", scheme: "http", argument: argument))
            }
        }
        return strays.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
    }

    /// `locations` are the route's location blocks (`routeIndex(routes:)`).
    func routedTargets(route: String, locations: [Directive], upstreams: [String: Directive]) -> Result<[RoutedTarget], NginxConfError> {
        guard let first = locations.first else {
            return .failure(NginxConfError(code: .locationMissing, file: path, route: route,
                                           message: "no \"location \(route)\" block in the file: add one, or fix the route's location (regex and named locations never match)"))
        }
        var found: [RoutedTarget] = []
        var seen: Set<Int> = []
        for location in locations {
            var proxyPasses: [Directive] = []
            Directive.collect(location.children ?? [], into: &proxyPasses) { $0.hasName("proxy_pass") }
            for proxyPass in proxyPasses {
                do throws(TargetProblem) {
                    let target = try resolve(proxyPass, route: route, location: location.byteRange, upstreams: upstreams)
                    if seen.insert(target.target.byteRange.lowerBound).inserted { found.append(target) }
                } catch {
                    let at = error.code == .upstreamSeveralServers || error.code == .upstreamMissing
                        ? (upstreamOf(proxyPass, upstreams) ?? proxyPass) : proxyPass
                    return .failure(self.error(error, at: at, route: route))
                }
            }
        }
        guard !found.isEmpty else {
            return .failure(self.error(TargetProblem(code: .noTarget, message: "no proxy_pass in any \"location \(route)\" block: add one, or remove the route"),
                                       at: first, route: route))
        }
        return .success(found)
    }

    private func resolve(_ proxyPass: Directive, route: String, location: Range<Int>,
                         upstreams: [String: Directive]) throws(TargetProblem) -> RoutedTarget {
        guard let argument = proxyPass.arguments.first else {
            throw TargetProblem(code: .unsupportedTarget, message: "proxy_pass has no address")
        }
        switch try parseProxyPass(argument, upstreamExists: { upstreams[$0] != nil }) {
        case .address(let scheme, let span):
            return RoutedTarget(target: target(span, kind: .proxyPass, route: route, scheme: scheme, argument: argument),
                                hasPort: span.hasPort, defaultPort: scheme == "https" ? 443 : 80, location: location)
        case .upstream(let scheme, let name):
            let servers = (upstreams[name]?.children ?? []).filter { $0.name == "server" }
            guard let server = servers.first, let address = server.arguments.first else {
                throw TargetProblem(code: .upstreamMissing,
                                    message: "upstream \"\(name)\" has no server line: add \"server IP:PORT;\"")
            }
            guard servers.count == 1 else {
                throw TargetProblem(code: .upstreamSeveralServers,
                                    message: "upstream \"\(name)\" has \(servers.count) servers, so ipsyncd cannot tell which one is the Service: keep one server line, or proxy_pass to the address directly")
            }
            let span = try parseUpstreamServer(address, upstream: name)
            // An upstream server without a port means port 80, whatever the scheme.
            return RoutedTarget(target: target(span, kind: .upstreamServer(upstream: name), route: route, scheme: scheme, argument: address),
                                hasPort: span.hasPort, defaultPort: 80, location: location)
        }
    }

    private func upstreamOf(_ proxyPass: Directive, _ upstreams: [String: Directive]) -> Directive? {
        guard let argument = proxyPass.arguments.first,
              case .upstream(_, let name)? = try? parseProxyPass(argument, upstreamExists: { upstreams[$0] != nil })
        else { return nil }
        return upstreams[name]
    }

    private func target(_ span: AddressSpan, kind: ProxyTarget.Kind, route: String, scheme: String, argument: Argument) -> ProxyTarget {
        ProxyTarget(kind: kind, route: route, address: String(decoding: source[span.range], as: UTF8.self),
                    byteRange: span.range, scheme: scheme, line: argument.line,
                    column: argument.column + span.range.lowerBound - argument.byteRange.lowerBound)
    }

    private func error(_ problem: TargetProblem, at directive: Directive, route: String) -> NginxConfError {
        NginxConfError(code: problem.code, file: path, line: directive.line, column: directive.column,
                       lineText: lineText(containing: directive.byteRange.lowerBound), route: route, message: problem.message)
    }

    func lineText(containing offset: Int) -> String {
        source.withUnsafeBufferPointer { bytes in
            var start = offset
            while start > 0, bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
            return NginxConf.lineText(bytes, lineStartingAt: start)
        }
    }
}
