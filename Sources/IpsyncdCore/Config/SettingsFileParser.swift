import Yams

/// The YAML config file (DESIGN §4 keys) → a checked layer of values.
enum SettingsFileParser {
    static let keys = ["kubeconfig", "context", "namespace", "site", "nginx_conf", "routes", "template",
                       "check_command", "reload_command", "settle", "min_reload_interval", "resync_interval",
                       "log_format", "log_level", "command_timeout", "state_dir", "metrics_file",
                       "api_timeout", "exec_timeout", "watch_silence"]

    static func parse(yaml: String, source: String) throws(ConfigError) -> SettingsLayer {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ConfigError(code: .invalidYAML, source: source,
                              message: "is not valid YAML: \(error)")
        }
        var layer = SettingsLayer()
        guard let root, !isNull(root) else { return layer }   // an empty file: all defaults
        guard case .mapping(let mapping) = root else {
            throw ConfigError(code: .notAMapping, source: source, line: root.mark?.line ?? 0,
                              message: "must be a mapping of keys such as `namespace: flowmaster`; known keys: "
                                  + keys.joined(separator: ", "))
        }
        let reader = NodeReader(source: source)
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            let line = keyNode.mark?.line ?? 0
            if isNull(value), ["kubeconfig", "context", "template", "metrics_file"].contains(key) { continue }
            switch key {
            case "kubeconfig": layer.kubeconfig = try reader.text(value, key)
            case "context": layer.context = try reader.text(value, key)
            case "namespace":
                layer.namespace = try SettingValues.namespace(reader.text(value, key), source: source, key: key, line: line)
            case "site": layer.site = try reader.text(value, key)
            case "nginx_conf": layer.nginxConf = try reader.text(value, key)
            case "routes": layer.routes = try reader.routes(value)
            case "template": layer.template = try reader.text(value, key)
            case "check_command": layer.checkCommand = try reader.text(value, key)
            case "reload_command": layer.reloadCommand = try reader.text(value, key)
            case "settle": layer.settle = try reader.duration(value, key, allowZero: true)
            case "min_reload_interval": layer.minReloadInterval = try reader.duration(value, key, allowZero: true)
            case "resync_interval": layer.resyncInterval = try reader.duration(value, key, allowZero: false)
            case "command_timeout": layer.commandTimeout = try reader.duration(value, key, allowZero: false)
            case "api_timeout": layer.apiTimeout = try reader.duration(value, key, allowZero: false)
            case "exec_timeout": layer.execTimeout = try reader.duration(value, key, allowZero: false)
            case "watch_silence": layer.watchSilence = try reader.duration(value, key, allowZero: false)
            case "log_format":
                layer.logFormat = try SettingValues.logFormat(reader.text(value, key), source: source, key: key, line: line)
            case "log_level":
                layer.logLevel = try SettingValues.logLevel(reader.text(value, key), source: source, key: key, line: line)
            case "state_dir": layer.stateDir = try reader.text(value, key)
            case "metrics_file": layer.metricsFile = try reader.text(value, key)
            default:
                throw ConfigError(code: .unknownKey, source: source, key: key, line: line,
                                  message: "unknown key; known keys: " + keys.joined(separator: ", "))
            }
        }
        return layer
    }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar = node, node.null != nil { return true }
        return false
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
        guard !scalar.string.isEmpty else {
            throw ConfigError(code: .badValue, source: source, key: key, line: node.mark?.line ?? 0,
                              message: "must not be empty")
        }
        return scalar.string
    }

    func duration(_ node: Node, _ key: String, allowZero: Bool) throws(ConfigError) -> Duration {
        let line = node.mark?.line ?? 0
        // A bare number has no unit: 5 could be seconds or minutes, so it is refused unless it is 0.
        if case .scalar(let scalar) = node, node.int != nil || node.float != nil, scalar.string != "0" {
            throw ConfigError(code: .wrongType, source: source, key: key, line: line,
                              message: "\(scalar.string) has no unit; use \(DurationText.allowed)")
        }
        return try SettingValues.duration(text(node, key), allowZero: allowZero, source: source, key: key, line: line)
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
