/// The flags as typed on the command line, unchecked; `Settings.load` checks them and names the flag
/// in any error. nil (or no routes) means the flag was not given.
public struct SettingsOverrides: Sendable, Equatable {
    public var kubeconfig: String?
    public var context: String?
    public var namespace: String?
    public var site: String?
    public var nginxConf: String?
    /// `LOC=SERVICE[:PORT]` each; when any is given they replace the config file's routes.
    public var routes: [String] = []
    public var template: String?
    public var checkCommand: String?
    public var reloadCommand: String?
    public var settle: String?
    public var minReloadInterval: String?
    public var resyncInterval: String?
    public var logFormat: String?
    public var logLevel: String?
    public var commandTimeout: String?
    public var stateDir: String?
    public var metricsFile: String?

    public init() {}

    func layer() throws(ConfigError) -> SettingsLayer {
        let source = "command line"
        func text(_ value: String?, _ flag: String) throws(ConfigError) -> String? {
            guard let value else { return nil }
            guard !value.isEmpty else {
                throw ConfigError(code: .badValue, source: source, key: flag, message: "must not be empty")
            }
            return value
        }
        func duration(_ value: String?, _ flag: String, allowZero: Bool) throws(ConfigError) -> Duration? {
            guard let value else { return nil }
            return try SettingValues.duration(value, allowZero: allowZero, source: source, key: flag, line: 0)
        }
        var layer = SettingsLayer()
        layer.kubeconfig = try text(kubeconfig, "--kubeconfig")
        layer.context = try text(context, "--context")
        layer.namespace = try namespace.map { (v) throws(ConfigError) in
            try SettingValues.namespace(v, source: source, key: "--namespace", line: 0)
        }
        layer.site = try text(site, "--site")
        layer.nginxConf = try text(nginxConf, "--nginx-conf")
        if !routes.isEmpty {
            var parsed: [Route] = []
            for flag in routes {
                switch Route.parse(flag) {
                case .success(let route): parsed.append(route)
                case .failure(let error):
                    throw ConfigError(code: .badValue, source: source, key: "--route", message: error.message)
                }
            }
            try SettingValues.checkUnique(parsed, source: source, key: "--route", lines: [])
            layer.routes = parsed
        }
        layer.template = try text(template, "--template")
        layer.checkCommand = try text(checkCommand, "--check-command")
        layer.reloadCommand = try text(reloadCommand, "--reload-command")
        layer.settle = try duration(settle, "--settle", allowZero: true)
        layer.minReloadInterval = try duration(minReloadInterval, "--min-reload-interval", allowZero: true)
        layer.resyncInterval = try duration(resyncInterval, "--resync-interval", allowZero: false)
        layer.commandTimeout = try duration(commandTimeout, "--command-timeout", allowZero: false)
        layer.logFormat = try logFormat.map { (v) throws(ConfigError) in
            try SettingValues.logFormat(v, source: source, key: "--log-format", line: 0)
        }
        layer.logLevel = try logLevel.map { (v) throws(ConfigError) in
            try SettingValues.logLevel(v, source: source, key: "--log-level", line: 0)
        }
        layer.stateDir = try text(stateDir, "--state-dir")
        layer.metricsFile = try text(metricsFile, "--metrics-file")
        return layer
    }
}
