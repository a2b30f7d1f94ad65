/// One proxied path: nginx's `location LOC` is pointed at the Service's ClusterIP and port.
package struct Route: Sendable, Hashable, CustomStringConvertible {
    package var location: String
    package var service: String
    /// The Service port (`spec.ports[].name` or `.port`); nil means the Service's only port.
    package var port: PortRef?

    package init(location: String, service: String, port: PortRef? = nil) {
        self.location = location
        self.service = service
        self.port = port
    }

    /// `LOC=SERVICE[:PORT]`, the form of `--route`.
    package var description: String {
        "\(location)=\(service)" + (port.map { ":\($0)" } ?? "")
    }
}

package enum PortRef: Sendable, Hashable, CustomStringConvertible {
    case name(String)
    case number(Int)

    package var description: String {
        switch self {
        case .name(let name): name
        case .number(let number): String(number)
        }
    }
}

extension Route {
    /// The flowmaster setup (docs/design.md §4).
    package static let defaults: [Route] = [
        Route(location: "/", service: "frontend-nextjs"),
        Route(location: "/api/", service: "api-gateway"),
        Route(location: "/ws/", service: "websocket-gateway"),
    ]

    /// Parses `LOC=SERVICE[:PORT]`. Returns what is wrong, for a ConfigError.
    static func parse(_ text: String) -> Result<Route, RouteSyntaxError> {
        guard let equals = text.firstIndex(of: "=") else {
            return .failure(.init("\"\(text)\" has no '='; use LOC=SERVICE[:PORT], such as /api/=api-gateway:9000"))
        }
        let location = String(text[..<equals])
        var rest = Substring(text[text.index(after: equals)...])
        var port: PortRef?
        if let colon = rest.firstIndex(of: ":") {
            switch parsePort(String(rest[rest.index(after: colon)...])) {
            case .success(let value): port = value
            case .failure(let error): return .failure(error)
            }
            rest = rest[..<colon]
        }
        if let problem = checkLocation(location) { return .failure(problem) }
        if let problem = checkServiceName(String(rest)) { return .failure(problem) }
        return .success(Route(location: location, service: String(rest), port: port))
    }

    static func checkLocation(_ location: String) -> RouteSyntaxError? {
        guard location.hasPrefix("/") else {
            return .init("location \"\(location)\" must start with '/', as in nginx's `location /api/ {`")
        }
        if location.contains(where: { $0.isWhitespace || ";{}\"'#".contains($0) }) {
            return .init("location \"\(location)\" must be one nginx word: no spaces, quotes, ';', '{', '}' or '#'")
        }
        return nil
    }

    /// A Service name is a DNS-1035 label: lowercase letters, digits and '-', at most 63 characters.
    static func checkServiceName(_ name: String) -> RouteSyntaxError? {
        let bytes = Array(name.utf8)
        let valid = !bytes.isEmpty && bytes.count <= 63
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            && bytes.first.map { $0 >= 0x61 && $0 <= 0x7A } == true && bytes.last != 0x2D
        return valid ? nil : .init(
            "service \"\(name)\" is not a Service name: lowercase letters, digits and '-', starting with a letter, at most 63 characters")
    }

    /// A port number 1-65535 or a port name (lowercase letters, digits and '-', at most 15 characters).
    static func parsePort(_ text: String) -> Result<PortRef, RouteSyntaxError> {
        if let number = Int(text) {
            guard (1...65535).contains(number) else {
                return .failure(.init("port \(number) is out of range; use 1-65535 or the Service port's name"))
            }
            return .success(.number(number))
        }
        let bytes = Array(text.utf8)
        let valid = !bytes.isEmpty && bytes.count <= 15
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            && bytes.contains { $0 >= 0x61 && $0 <= 0x7A }
        return valid ? .success(.name(text)) : .failure(.init(
            "port \"\(text)\" is neither a number 1-65535 nor a Service port name (lowercase letters, digits and '-', at most 15 characters)"))
    }
}

/// What is wrong with a route; wrapped in a ConfigError by the caller, who knows the source and key.
struct RouteSyntaxError: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}
