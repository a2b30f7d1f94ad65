import Yams

/// The YAML config file (the keys of `SettingsTable`) → a checked layer of values.
enum SettingsFileParser {
    static func parse(yaml: String, source: String) throws(ConfigError) -> SettingsLayer {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch YamlError.duplicatedKeysInMapping(let keys, let context) {
            throw DuplicateKeys.error(yaml: yaml, source: source, key: keys.sorted().first ?? "", first: context.mark)
        } catch {
            throw ConfigError(code: .invalidYAML, source: source,
                              message: "is not valid YAML: \(error)")
        }
        var layer = SettingsLayer()
        guard let root, !isNull(root) else { return layer }   // an empty file: all defaults
        let known = "known keys: " + SettingsTable.keys.joined(separator: ", ")
        guard case .mapping(let mapping) = root else {
            throw ConfigError(code: .notAMapping, source: source, line: root.mark?.line ?? 0,
                              message: "must be a mapping of keys such as `namespace: flowmaster`; " + known)
        }
        let reader = NodeReader(source: source)
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            let line = keyNode.mark?.line ?? 0
            guard let spec = SettingsTable.spec(key) else {
                throw ConfigError(code: .unknownKey, source: source, key: key, line: line, message: "unknown key; " + known)
            }
            if isNull(value), spec.nullable { continue }
            if let parse = spec.parse {
                if spec.range != nil { try reader.requireUnit(value, key) }
                let place = SettingSpec.Place(source: source, key: key, line: line)
                let text = spec.acceptsList ? try reader.list(value, key) : try reader.text(value, key)
                layer.add(key, try parse(text, place))
            } else {
                let routes = try reader.routes(value)
                layer.add(key) { $0.routes = routes }
            }
        }
        return layer
    }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar = node, node.null != nil { return true }
        return false
    }
}

/// A key given twice in one mapping. Yams reports where the key is first; the error points at the second
/// occurrence, the one an operator just added: the first is hidden under a placeholder of the same width
/// and the text composed again, so the key's own mark is the second one (flow and block style alike).
private enum DuplicateKeys {
    static func error(yaml: String, source: String, key: String, first: Mark) -> ConfigError {
        let second = secondMark(yaml: yaml, key: key, first: first) ?? first
        return ConfigError(code: .invalidYAML, source: source, key: key, line: second.line,
                           message: "duplicate key at line \(second.line), column \(second.column); it is already set at line "
                               + "\(first.line), column \(first.column): keep one")
    }

    private static let placeholder: Unicode.Scalar = "\u{2603}"

    static func secondMark(yaml: String, key: String, first: Mark) -> Mark? {
        var lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        guard first.line >= 1, first.line <= lines.count else { return nil }
        var start = first.column - 1
        let line = lines[first.line - 1]
        if start < line.count, line[start] == "\"" || line[start] == "'" { start += 1 }
        let keyScalars = Array(key.unicodeScalars)
        guard !keyScalars.isEmpty, start + keyScalars.count <= line.count,
              Array(line[start..<start + keyScalars.count]) == keyScalars else { return nil }
        for index in start..<start + keyScalars.count { lines[first.line - 1][index] = placeholder }
        let hidden = lines.map { String(String.UnicodeScalarView($0)) }.joined(separator: "\n")
        do {
            return find(key, besides: String(repeating: Character(placeholder), count: keyScalars.count),
                        in: try Yams.compose(yaml: hidden))
        } catch YamlError.duplicatedKeysInMapping(let keys, let context) where keys.contains(key) {
            return context.mark   // a third occurrence: the second is now the first Yams reports
        } catch {
            return nil
        }
    }

    /// The mark of `key` in the mapping that also holds the placeholder.
    private static func find(_ key: String, besides hidden: String, in node: Node?) -> Mark? {
        switch node {
        case .mapping(let mapping)?:
            let keys = mapping.map(\.key)
            if keys.contains(where: { $0.string == hidden }), let match = keys.first(where: { $0.string == key }) {
                return match.mark
            }
            return mapping.lazy.compactMap { find(key, besides: hidden, in: $0.value) }.first
        case .sequence(let sequence)?:
            return sequence.lazy.compactMap { find(key, besides: hidden, in: $0) }.first
        default:
            return nil
        }
    }
}

/// Typed reads of YAML nodes; errors name the file, the key and the line.
private struct NodeReader {
    let source: String

    func text(_ node: Node, _ key: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node, node.null == nil else {
            throw ConfigError(code: .wrongType, source: source, key: key, line: node.mark?.line ?? 0,
                              message: "expected a single value (text), found \(kind(node))")
        }
        return try SettingValues.text(scalar.string, .init(source: source, key: key, line: node.mark?.line ?? 0))
    }

    /// A list of texts (or one text) as the comma-separated text a flag would give.
    func list(_ node: Node, _ key: String) throws(ConfigError) -> String {
        guard case .sequence(let sequence) = node else { return try text(node, key) }
        guard !sequence.isEmpty else {
            throw ConfigError(code: .badValue, source: source, key: key, line: node.mark?.line ?? 0,
                              message: "the list is empty; give at least one value or leave the key out")
        }
        var items: [String] = []
        for item in sequence { items.append(try text(item, key)) }
        return items.joined(separator: ",")
    }

    /// A bare number has no unit: 5 could be seconds or minutes, so it is refused unless it is 0.
    func requireUnit(_ node: Node, _ key: String) throws(ConfigError) {
        if case .scalar(let scalar) = node, node.int != nil || node.float != nil, scalar.string != "0" {
            throw ConfigError(code: .wrongType, source: source, key: key, line: node.mark?.line ?? 0,
                              message: "\(scalar.string) has no unit; use \(DurationText.allowed)")
        }
    }

    func routes(_ node: Node) throws(ConfigError) -> [Route] {
        let example = "use a list such as\n  routes:\n    - { location: /api/, service: api-gateway, port: 9000 }"
        guard case .sequence(let sequence) = node else {
            throw ConfigError(code: .wrongType, source: source, key: "routes", line: node.mark?.line ?? 0,
                              message: "expected a list of {location, service, port}, found \(kind(node)); \(example)")
        }
        guard !sequence.isEmpty else {
            throw ConfigError(code: .noRoutes, source: source, key: "routes", line: node.mark?.line ?? 0,
                              message: "the list is empty; give at least one route or leave the key out for the defaults")
        }
        var routes: [Route] = []
        var lines: [Int] = []
        for (index, item) in sequence.enumerated() {
            let key = "routes[\(index)]"
            let line = item.mark?.line ?? 0
            guard case .mapping(let mapping) = item else {
                throw ConfigError(code: .wrongType, source: source, key: key, line: line,
                                  message: "expected {location, service, port}, found \(kind(item)); \(example)")
            }
            var location: String?, service: String?, port: PortRef?
            for (fieldNode, value) in mapping {
                let field = fieldNode.string ?? ""
                let fieldKey = "\(key).\(field)"
                let fieldLine = value.mark?.line ?? line
                func fail(_ problem: RouteSyntaxError) -> ConfigError {
                    ConfigError(code: .badValue, source: source, key: fieldKey, line: fieldLine, message: problem.message)
                }
                switch field {
                case "location":
                    let text = try text(value, fieldKey)
                    if let problem = Route.checkLocation(text) { throw fail(problem) }
                    location = text
                case "service":
                    let text = try text(value, fieldKey)
                    if let problem = Route.checkServiceName(text) { throw fail(problem) }
                    service = text
                case "port":
                    switch Route.parsePort(try text(value, fieldKey)) {
                    case .success(let value): port = value
                    case .failure(let problem): throw fail(problem)
                    }
                default:
                    throw ConfigError(code: .unknownKey, source: source, key: fieldKey, line: fieldLine,
                                      message: "unknown key; a route has location, service and optionally port")
                }
            }
            guard let location else {
                throw ConfigError(code: .badValue, source: source, key: "\(key).location", line: line,
                                  message: "missing; give the nginx location, such as /api/")
            }
            guard let service else {
                throw ConfigError(code: .badValue, source: source, key: "\(key).service", line: line,
                                  message: "missing; give the Kubernetes Service name, such as api-gateway")
            }
            routes.append(Route(location: location, service: service, port: port))
            lines.append(line)
        }
        try SettingValues.checkUnique(routes, source: source, key: "routes", lines: lines)
        return routes
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        case .scalar: node.null != nil ? "nothing (null)" : "\"\(node.string ?? "")\""
        }
    }
}
