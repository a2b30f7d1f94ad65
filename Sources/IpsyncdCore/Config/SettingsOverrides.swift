/// The flags as typed on the command line, unchecked, by config key; `Settings.load` checks them with
/// `SettingsTable` and names the flag in any error.
public struct SettingsOverrides: Sendable, Equatable {
    /// Config key (`settle`) → the flag's text; a key not here was not given.
    public var values: [String: String] = [:]
    /// `LOC=SERVICE[:PORT]` each; when any is given they replace the config file's routes.
    public var routes: [String] = []

    public init() {}

    package subscript(key: String) -> String? {
        get { values[key] }
        set { values[key] = newValue }
    }

    func layer() throws(ConfigError) -> SettingsLayer {
        let source = ConfigError.commandLine
        var layer = SettingsLayer()
        for spec in SettingsTable.all {
            if spec.key == "routes" {
                guard !routes.isEmpty else { continue }
                var parsed: [Route] = []
                for flag in routes {
                    switch Route.parse(flag) {
                    case .success(let route): parsed.append(route)
                    case .failure(let error):
                        throw ConfigError(code: .badValue, source: source, key: spec.flag, message: error.message)
                    }
                }
                try SettingValues.checkUnique(parsed, source: source, key: spec.flag, lines: [])
                layer.add(spec.key) { $0.routes = parsed }
            } else if let text = values[spec.key], let parse = spec.parse {
                layer.add(spec.key, try parse(text, .init(source: source, key: spec.flag, line: 0)))
            }
        }
        return layer
    }
}
