public import Logging
import Posix

/// Every option of DESIGN §4, resolved: a flag wins over the config file, the file over the default.
public struct Settings: Sendable {
    public var kubeconfig: String?
    public var context: String?
    public var namespace = "flowmaster"
    public var site = "/etc/nginx/sites-enabled/flowmaster"
    public var nginxConf = "/etc/nginx/nginx.conf"
    public var routes = Route.defaults
    /// nil: patch mode (rewrite the targets in the site file); else the template renders the whole file.
    public var template: String?
    /// `{config}` is replaced by the staged main config's path.
    public var checkCommand = "nginx -t -c {config}"
    /// `ignore-dependencies`: the unit is ordered After=nginx.service, so while ipsyncd is being stopped a plain
    /// reload job would queue behind ipsyncd's own stop job and the apply in flight could not finish.
    public var reloadCommand = "systemctl reload --job-mode=ignore-dependencies nginx"
    public var settle: Duration = .milliseconds(50)
    public var minReloadInterval: Duration = .seconds(1)
    public var resyncInterval: Duration = .seconds(300)
    public var logFormat = LogFormat.auto
    public var logLevel = Logger.Level.info
    public var commandTimeout: Duration = .seconds(30)
    public var stateDir = "/var/lib/ipsyncd"
    public var metricsFile: String?

    /// The config file that was read, nil when none was.
    public internal(set) var configFile: String?
    /// What `load` was given, so that SIGHUP can load again the same way (`reloaded()`).
    public internal(set) var requestedConfigPath: String?
    public internal(set) var overrides = SettingsOverrides()

    /// The built-in defaults: the flowmaster setup on dev-01.
    public init() {}

    public static let defaultConfigPath = "/etc/ipsyncd/ipsyncd.yaml"

    /// Loads `configPath` (unset: `/etc/ipsyncd/ipsyncd.yaml` if it exists, else the defaults) and
    /// applies the flags in `overrides` on top.
    public static func load(configPath: String?, overrides: SettingsOverrides) throws(ConfigError) -> Settings {
        try load(configPath: configPath, overrides: overrides, defaultConfigPath: defaultConfigPath)
    }

    /// Loads again from the same file and flags (SIGHUP).
    public func reloaded() throws(ConfigError) -> Settings {
        try Settings.load(configPath: requestedConfigPath, overrides: overrides)
    }

    static func load(configPath: String?, overrides: SettingsOverrides,
                     defaultConfigPath: String) throws(ConfigError) -> Settings {
        var settings = Settings()
        settings.requestedConfigPath = configPath
        settings.overrides = overrides
        let path = configPath ?? (Posix.exists(defaultConfigPath) ? defaultConfigPath : nil)
        if let path {
            let text: String
            do { text = String(decoding: try Posix.read(path), as: UTF8.self) } catch {
                throw ConfigError(code: error.pathExists ? .unreadable : .fileNotFound, source: path,
                                  message: error.pathExists
                                      ? "cannot read the config file (\(error.reason)); check its permissions"
                                      : "the config file does not exist; create it or leave out --config to use the built-in defaults")
            }
            try settings.apply(SettingsFileParser.parse(yaml: text, source: path))
            settings.configFile = path
        }
        try settings.apply(overrides.layer())
        return settings
    }

    mutating func apply(_ layer: SettingsLayer) throws(ConfigError) {
        if let value = layer.kubeconfig { kubeconfig = value }
        if let value = layer.context { context = value }
        if let value = layer.namespace { namespace = value }
        if let value = layer.site { site = value }
        if let value = layer.nginxConf { nginxConf = value }
        if let value = layer.routes { routes = value }
        if let value = layer.template { template = value }
        if let value = layer.checkCommand { checkCommand = value }
        if let value = layer.reloadCommand { reloadCommand = value }
        if let value = layer.settle { settle = value }
        if let value = layer.minReloadInterval { minReloadInterval = value }
        if let value = layer.resyncInterval { resyncInterval = value }
        if let value = layer.logFormat { logFormat = value }
        if let value = layer.logLevel { logLevel = value }
        if let value = layer.commandTimeout { commandTimeout = value }
        if let value = layer.stateDir { stateDir = value }
        if let value = layer.metricsFile { metricsFile = value }
    }
}

/// One source of values (the config file or the flags), already checked; nil means "not given".
struct SettingsLayer {
    var kubeconfig: String?
    var context: String?
    var namespace: String?
    var site: String?
    var nginxConf: String?
    var routes: [Route]?
    var template: String?
    var checkCommand: String?
    var reloadCommand: String?
    var settle: Duration?
    var minReloadInterval: Duration?
    var resyncInterval: Duration?
    var logFormat: LogFormat?
    var logLevel: Logger.Level?
    var commandTimeout: Duration?
    var stateDir: String?
    var metricsFile: String?
}
