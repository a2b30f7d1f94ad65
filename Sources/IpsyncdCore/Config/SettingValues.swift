import Logging

/// Checks shared by the config file and the flags; each error names the source and the key.
enum SettingValues {
    static func duration(_ text: String, allowZero: Bool, source: String, key: String,
                         line: Int) throws(ConfigError) -> Duration {
        guard let value = DurationText.parse(text) else {
            throw ConfigError(code: .badValue, source: source, key: key, line: line,
                              message: "\"\(text)\" is not a duration; use \(DurationText.allowed)")
        }
        guard allowZero || value > .zero else {
            throw ConfigError(code: .badValue, source: source, key: key, line: line,
                              message: "must be more than 0; use \(DurationText.allowed)")
        }
        return value
    }

    /// A namespace is a DNS-1123 label.
    static func namespace(_ text: String, source: String, key: String, line: Int) throws(ConfigError) -> String {
        let bytes = Array(text.utf8)
        let valid = !bytes.isEmpty && bytes.count <= 63
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            && bytes.first != 0x2D && bytes.last != 0x2D
        guard valid else {
            throw ConfigError(code: .badValue, source: source, key: key, line: line,
                              message: "\"\(text)\" is not a namespace name: lowercase letters, digits and '-', at most 63 characters")
        }
        return text
    }

    static func logFormat(_ text: String, source: String, key: String, line: Int) throws(ConfigError) -> LogFormat {
        guard let value = LogFormat(rawValue: text) else {
            throw ConfigError(code: .badValue, source: source, key: key, line: line,
                              message: "\"\(text)\" is not a log format; use one of "
                                  + LogFormat.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    static func logLevel(_ text: String, source: String, key: String, line: Int) throws(ConfigError) -> Logger.Level {
        guard let value = Logger.Level(rawValue: text) else {
            throw ConfigError(code: .badValue, source: source, key: key, line: line,
                              message: "\"\(text)\" is not a log level; use one of "
                                  + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    /// Two routes for one location would fight over the same targets.
    static func checkUnique(_ routes: [Route], source: String, key: String, lines: [Int]) throws(ConfigError) {
        var seen: [String: Int] = [:]
        for (index, route) in routes.enumerated() {
            if let first = seen[route.location] {
                throw ConfigError(code: .duplicateRoute, source: source, key: key,
                                  line: index < lines.count ? lines[index] : 0,
                                  message: "location \"\(route.location)\" has two routes (\(routes[first]) and \(route)); keep one route per location")
            }
            seen[route.location] = index
        }
    }
}
