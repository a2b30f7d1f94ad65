import Logging

/// Checks shared by the config file and the flags; each error names the source, the key and what is allowed.
enum SettingValues {
    typealias Place = SettingSpec.Place

    static func text(_ text: String, _ place: Place) throws(ConfigError) -> String {
        guard !text.isEmpty else { throw error(place, "must not be empty") }
        return text
    }

    /// A duration within `range` (docs/design.md §4.3): too small, too large and not-a-duration say which.
    static func duration(_ text: String, range: ClosedRange<Duration>, _ place: Place) throws(ConfigError) -> Duration {
        let allowed = "\(DurationText.format(range.lowerBound)) to \(DurationText.format(range.upperBound))"
        let value: Duration
        switch DurationText.check(text) {
        case .success(let parsed): value = parsed
        case .failure(.tooLarge): throw error(place, "\"\(text)\" is too large; allowed: \(allowed)")
        case .failure(.notADuration): throw error(place, "\"\(text)\" is not a duration; use \(DurationText.allowed) (allowed: \(allowed))")
        }
        if value == .zero && range.lowerBound > .zero {
            throw error(place, "must be more than 0; allowed: \(allowed)")
        }
        if value < range.lowerBound { throw error(place, "\"\(text)\" is too small; allowed: \(allowed)") }
        if value > range.upperBound { throw error(place, "\"\(text)\" is too large; allowed: \(allowed)") }
        return value
    }

    /// `10.43.0.0/16,fd00:43::/112`: one or more CIDR blocks.
    static func cidrs(_ text: String, _ place: Place) throws(ConfigError) -> [ServiceCIDR] {
        var blocks: [ServiceCIDR] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingSpaces
            guard let block = ServiceCIDR(item) else {
                throw error(place, "\"\(item)\" is not a CIDR block; use ADDRESS/PREFIX, such as 10.43.0.0/16")
            }
            blocks.append(block)
        }
        return blocks
    }

    /// A namespace is a DNS-1123 label.
    static func namespace(_ text: String, _ place: Place) throws(ConfigError) -> String {
        let bytes = Array(text.utf8)
        let valid = !bytes.isEmpty && bytes.count <= 63
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            && bytes.first != 0x2D && bytes.last != 0x2D
        guard valid else {
            throw error(place, "\"\(text)\" is not a namespace name: lowercase letters, digits and '-', at most 63 characters")
        }
        return text
    }

    static func logFormat(_ text: String, _ place: Place) throws(ConfigError) -> LogFormat {
        guard let value = LogFormat(rawValue: text) else {
            throw error(place, "\"\(text)\" is not a log format; use one of " + LogFormat.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    static func logLevel(_ text: String, _ place: Place) throws(ConfigError) -> Logger.Level {
        guard let value = Logger.Level(rawValue: text) else {
            throw error(place, "\"\(text)\" is not a log level; use one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
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

    private static func error(_ place: Place, _ message: String) -> ConfigError {
        ConfigError(code: .badValue, source: place.source, key: place.key, line: place.line, message: message)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
