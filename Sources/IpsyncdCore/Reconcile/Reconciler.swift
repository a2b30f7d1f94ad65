import K8sWatch
import NginxConf

/// snapshot × routes × site bytes (or a template) → plan. Pure: never touches files, processes or the network.
package enum Reconciler {
    package static func plan(snapshot: ServiceSnapshot, routes: [Route], site: [UInt8], sitePath: String,
                            template: [UInt8]?, templatePath: String = "template",
                            serviceCIDRs: [ServiceCIDR] = []) -> Plan {
        let addresses = routes.map { ServiceAddress.resolve($0, in: snapshot, serviceCIDRs: serviceCIDRs) }
        var plan = Plan(sitePath: sitePath, oldBytes: site, newBytes: site, outcomes: [], errors: [], warnings: [],
                        failure: nil, diff: [])
        let parsed = Result { () throws(NginxConfError) in try ConfigFile.parse(site, path: sitePath) }
        if let template {
            renderTemplate(template, path: templatePath, routes: routes, addresses: addresses, parsed: parsed, into: &plan)
        } else {
            switch parsed {
            case .success(let file): patch(file, routes: routes, addresses: addresses, into: &plan)
            case .failure(let error):
                fail(&plan, routes: routes, addresses: addresses,
                     "cannot parse the site file: \(error); fix the file (nginx -t shows the same), nothing was changed")
            }
        }
        if plan.failure == nil, case .success(let file) = parsed {
            plan.warnings = strayWarnings(file, routes: routes, addresses: addresses, outcomes: plan.outcomes)
        }
        if plan.newBytes != plan.oldBytes {
            plan.diff = unifiedDiff(old: plan.oldBytes, new: plan.newBytes, oldLabel: sitePath, newLabel: sitePath)
        }
        return plan
    }

    // MARK: patch mode

    private static func patch(_ file: ConfigFile, routes: [Route], addresses: [Result<ServiceAddress, Problem>],
                              into plan: inout Plan) {
        var edits: [RouteEdit] = []
        var targetErrors: [String: NginxConfError] = [:]
        var fileAddresses: [String: [String]] = [:]
        for (route, address) in zip(routes, addresses) {
            switch file.targets(route: route.location) {
            case .success(let targets): fileAddresses[route.location] = unique(targets.map(\.address))
            case .failure(let error): targetErrors[route.location] = error
            }
            if case .success(let address) = address, targetErrors[route.location] == nil {
                edits.append(RouteEdit(route: route.location, address: address.description))
            }
        }
        let result = file.rewrite(edits)
        for error in result.errors where targetErrors[error.route ?? ""] == nil {
            targetErrors[error.route ?? ""] = error
        }
        // A rewrite error not tied to a route would leave the file half-synced in an unknown way: write nothing.
        if let loose = result.errors.first(where: { error in !routes.contains { $0.location == error.route } }) {
            fail(&plan, routes: routes, addresses: addresses, "cannot rewrite the site file: \(loose)")
            return
        }
        plan.newBytes = result.bytes
        for (route, address) in zip(routes, addresses) {
            let old = fileAddresses[route.location] ?? []
            var outcome = RouteOutcome(location: route.location, service: route.service, status: .unchanged,
                                       fileAddresses: old, live: try? address.get(), reason: nil)
            if let error = targetErrors[route.location] {
                outcome.status = .error
                outcome.reason = error.description
                plan.errors.append(error.description)
            } else if case .failure(let why) = address {
                outcome.status = .kept
                outcome.reason = "\(why.message); keeping \(outcome.old)"
            } else if result.changes.contains(where: { $0.route == route.location }) {
                outcome.status = .changed
            }
            plan.outcomes.append(outcome)
        }
    }

    // MARK: template mode

    private static func renderTemplate(_ template: [UInt8], path: String, routes: [Route],
                                       addresses: [Result<ServiceAddress, Problem>],
                                       parsed: Result<ConfigFile, NginxConfError>, into plan: inout Plan) {
        var values: [String: TemplateValue] = [:]
        var missing: [String] = []
        for (route, address) in zip(routes, addresses) {
            switch address {
            case .success(let address):
                // Two routes to one Service with different ports: the name means the first route's port.
                if values[route.service] == nil { values[route.service] = TemplateValue(ip: address.ip, port: address.port) }
            case .failure(let why): missing.append(why.message)
            }
        }
        let old = parsed.map { file in
            routes.map { route in (try? file.targets(route: route.location).get()).map { unique($0.map(\.address)) } ?? [] }
        }
        let fileAddresses = (try? old.get()) ?? routes.map { _ in [] }
        if !missing.isEmpty {
            plan.outcomes = zip(routes, zip(addresses, fileAddresses)).map { route, pair in
                let (address, old) = pair
                var outcome = RouteOutcome(location: route.location, service: route.service, status: .kept,
                                           fileAddresses: old, live: try? address.get(), reason: nil)
                outcome.reason = (address.failure?.message ?? "template mode renders every route and " + missing.joined(separator: "; ")) + "; keeping \(outcome.old)"
                return outcome
            }
            return
        }
        let rendered: [UInt8]
        do { rendered = try NginxConf.renderTemplate(template, path: path, values: values) } catch {
            fail(&plan, routes: routes, addresses: addresses, "cannot render the template: \(error)")
            return
        }
        plan.newBytes = rendered
        plan.outcomes = zip(routes, zip(addresses, fileAddresses)).map { route, pair in
            let (address, old) = pair
            let live = try? address.get()
            let same = live.map { live in !old.isEmpty && old.allSatisfy { sameAddress($0, live) } } ?? false
            return RouteOutcome(location: route.location, service: route.service,
                                status: same || rendered == plan.oldBytes ? .unchanged : .changed,
                                fileAddresses: old, live: live, reason: nil)
        }
    }

    // MARK: helpers

    private static func fail(_ plan: inout Plan, routes: [Route], addresses: [Result<ServiceAddress, Problem>],
                             _ reason: String) {
        plan.failure = reason
        plan.errors.append(reason)
        plan.newBytes = plan.oldBytes
        plan.outcomes = zip(routes, addresses).map { route, address in
            RouteOutcome(location: route.location, service: route.service, status: .error, fileAddresses: [],
                         live: try? address.get(), reason: reason)
        }
    }

    /// docs/design.md §5: a proxy_pass outside the routes that points at a routed Service's old or current address.
    private static func strayWarnings(_ file: ConfigFile, routes: [Route], addresses: [Result<ServiceAddress, Problem>],
                                      outcomes: [RouteOutcome]) -> [String] {
        var owner: [String: String] = [:]   // host → service
        for (route, address) in zip(routes, addresses) {
            if case .success(let address) = address {
                owner[address.ip] = owner[address.ip] ?? route.service
            }
        }
        for outcome in outcomes {
            for old in outcome.fileAddresses { owner[host(of: old)] = owner[host(of: old)] ?? outcome.service }
        }
        guard !owner.isEmpty else { return [] }
        let hosts = Set(owner.keys.flatMap { $0.contains(":") ? [$0, "[\($0)]"] : [$0] })
        return file.strayTargets(routes: routes.map(\.location), hosts: hosts).map { target in
            let service = owner[host(of: target.address)]
            let place = target.route.isEmpty ? "outside any location" : "in location \(target.route)"
            return "\(file.path):\(target.line): \(target.address)\(service.map { " (\($0))" } ?? "") is proxied \(place), "
                + "which is not a route: it will go stale when the Service is recreated; add a route for it "
                + "(--route \(target.route.isEmpty ? "LOC" : target.route)=\(service ?? "SERVICE"))"
        }
    }

    /// "10.0.0.1:80" → "10.0.0.1", "[fd00::1]:80" → "fd00::1", "10.0.0.1" → "10.0.0.1".
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        if let colon = address.lastIndex(of: ":"), address.filter({ $0 == ":" }).count == 1 {
            return String(address[..<colon])
        }
        return address
    }

    /// A target without a port means the scheme's default, and the rewriter keeps it omitted for 80 and 443.
    static func sameAddress(_ text: String, _ live: ServiceAddress) -> Bool {
        text == live.description || ((live.port == 80 || live.port == 443) && (text == live.ip || text == "[\(live.ip)]"))
    }

    private static func unique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
