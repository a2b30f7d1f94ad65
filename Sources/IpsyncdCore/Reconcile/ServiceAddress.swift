import Glibc
import K8sWatch

/// A Service's address as written into nginx: its ClusterIP and Service port (never targetPort).
package struct ServiceAddress: Sendable, Hashable, CustomStringConvertible {
    /// Unbracketed, validated as an IPv4 or IPv6 literal.
    package var ip: String
    package var port: Int
    package var isIPv6: Bool { ip.contains(":") }
    /// "10.43.0.12:9000", "[fd00::7]:80".
    package var description: String { isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

extension ServiceAddress {
    /// The route's address from the snapshot, or why the Service has none usable (the route is then kept).
    /// `serviceCIDRs` empty: any address that can be a ClusterIP; else only those inside one of the blocks.
    static func resolve(_ route: Route, in snapshot: ServiceSnapshot,
                        serviceCIDRs: [ServiceCIDR] = []) -> Result<ServiceAddress, Problem> {
        let name = route.service
        guard let service = snapshot.services[name] else {
            return .failure(Problem("\(name) is absent (deleted?)"))
        }
        if service.type == "ExternalName" {
            return .failure(Problem("\(name) is an ExternalName Service (\(service.externalName ?? "no name")), it has no ClusterIP"))
        }
        guard let clusterIP = service.clusterIP, !clusterIP.isEmpty else {
            return .failure(Problem("\(name) has no ClusterIP yet"))
        }
        if clusterIP == "None" { return .failure(Problem("\(name) is headless (clusterIP: None)")) }
        guard isIPLiteral(clusterIP) else {
            return .failure(Problem("\(name) has a ClusterIP that is not an IP address (\(quoted(clusterIP)))"))
        }
        if let why = neverAClusterIP(clusterIP) {
            return .failure(Problem("\(name) has a ClusterIP that can never be one (\(clusterIP) is \(why))"))
        }
        if !serviceCIDRs.isEmpty && !serviceCIDRs.contains(where: { $0.contains(clusterIP) }) {
            return .failure(Problem("\(name) has a ClusterIP outside service_cidr (\(clusterIP) is not in "
                + serviceCIDRs.map(\.description).joined(separator: ", ") + ")"))
        }
        return servicePort(for: route, of: service).map { ServiceAddress(ip: clusterIP, port: $0) }
    }

    private static func servicePort(for route: Route, of service: ServiceInfo) -> Result<Int, Problem> {
        let name = service.name
        let list = service.ports.map { port in port.name.map { "\($0)=\(port.port)" } ?? String(port.port) }
            .joined(separator: ", ")
        let found: [ServicePort]
        switch route.port {
        case nil:
            guard service.ports.count == 1 else {
                return .failure(Problem(service.ports.isEmpty ? "\(name) has no ports"
                    : "\(name) has \(service.ports.count) ports (\(list)); name one in the route, such as \(route.location)=\(name):\(service.ports[0].name ?? String(service.ports[0].port))"))
            }
            found = service.ports
        case .number(let number):
            found = service.ports.filter { $0.port == number }
            if found.isEmpty { return .failure(Problem("\(name) has no port \(number) (ports: \(list.isEmpty ? "none" : list))")) }
        case .name(let wanted):
            found = service.ports.filter { $0.name == wanted }
            if found.isEmpty { return .failure(Problem("\(name) has no port named \(wanted) (ports: \(list.isEmpty ? "none" : list))")) }
        }
        // nginx proxies HTTP over TCP: a UDP or SCTP port is no target.
        let tcp = found.filter { $0.protocolName == "TCP" }
        if tcp.isEmpty {
            let protocols = Set(found.map(\.protocolName)).sorted().joined(separator: "/")
            return .failure(Problem("\(name) port \(route.port.map { "\($0)" } ?? String(found[0].port)) is \(protocols), not TCP; nginx proxies HTTP over TCP"))
        }
        // The same port number under one name is one address; different numbers under one name are not.
        let numbers = Set(tcp.map(\.port))
        guard numbers.count == 1, let port = numbers.first, (1...65535).contains(port) else {
            return .failure(Problem("\(name) has an ambiguous or invalid port for \(route.port.map { "\($0)" } ?? "the route") (ports: \(list))"))
        }
        return .success(port)
    }

    /// Strictly an IPv4 dotted quad or an IPv6 literal (inet_pton): no zone, no brackets, no spaces or punctuation.
    static func isIPLiteral(_ text: String) -> Bool {
        // inet_pton reads a C string: a NUL inside would cut the text short, so check every byte first.
        guard !text.isEmpty, text.utf8.count <= 45,
              text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x46).contains($0)
                                     || (0x61...0x66).contains($0) || $0 == 0x2E || $0 == 0x3A }) else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        let family = text.contains(":") ? AF_INET6 : AF_INET
        return inet_pton(family, text, &buffer) == 1
    }

    /// A value from the API, shown safely in a message: quoted, control characters escaped, cut short.
    static func quoted(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(64) {
            out += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return "\"" + out + (text.unicodeScalars.count > 64 ? "…" : "") + "\""
    }
}
