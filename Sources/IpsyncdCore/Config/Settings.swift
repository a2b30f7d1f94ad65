public import Logging
import Posix

/// Every option of docs/design.md §4, resolved: a flag wins over the config file, the file over the default.
public struct Settings: Sendable {
    package var kubeconfig: String?
    package var context: String?
    package var namespace = "flowmaster"
    package var site = "/etc/nginx/sites-enabled/flowmaster"
    package var nginxConf = "/etc/nginx/nginx.conf"
    package var routes = Route.defaults
    /// nil: patch mode (rewrite the targets in the site file); else the template renders the whole file.
    package var template: String?
    /// `{config}` is replaced by the staged main config's path.
    package var checkCommand = "nginx -t -c {config}"
    /// `ignore-dependencies`: the unit is ordered After=nginx.service, so while ipsyncd is being stopped a plain
    /// reload job would queue behind ipsyncd's own stop job and the apply in flight could not finish.
    package var reloadCommand = "systemctl reload --job-mode=ignore-dependencies nginx"
    package var settle: Duration = .milliseconds(50)
    package var minReloadInterval: Duration = .seconds(1)
    package var resyncInterval: Duration = .seconds(300)
    public var logFormat = LogFormat.auto
    public var logLevel = Logger.Level.info
    package var commandTimeout: Duration = .seconds(30)
    /// A whole LIST/GET to the API server (its response headers: within half of it).
    package var apiTimeout: Duration = .seconds(30)
    /// An exec credential plugin is killed with its process group after this.
    package var execTimeout: Duration = .seconds(30)
    /// A watch connection silent for this long is dead (TCP keepalive, bookmark deadline).
    package var watchSilence: Duration = .seconds(60)
    package var stateDir = "/var/lib/ipsyncd"
    package var metricsFile: String?
    /// Refuse ClusterIPs outside these blocks; empty: no limit.
    package var serviceCIDRs: [ServiceCIDR] = []

    /// The config file that was read, nil when none was.
    package internal(set) var configFile: String?
    /// What `load` was given, so that SIGHUP can load again the same way (`reloaded()`).
    package internal(set) var requestedConfigPath: String?
    package internal(set) var overrides = SettingsOverrides()

    /// The built-in defaults: the flowmaster setup on dev-01.
    package init() {}

    public static let defaultConfigPath = "/etc/ipsyncd/ipsyncd.yaml"

    /// Loads `configPath` (unset: `/etc/ipsyncd/ipsyncd.yaml` if it exists, else the defaults) and
    /// applies the flags in `overrides` on top.
    public static func load(configPath: String?, overrides: SettingsOverrides) throws(ConfigError) -> Settings {
        try load(configPath: configPath, overrides: overrides, defaultConfigPath: defaultConfigPath)
    }

    /// Loads again from the same file and flags (SIGHUP).
    package func reloaded() throws(ConfigError) -> Settings {
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
            settings.apply(try SettingsFileParser.parse(yaml: text, source: path))
            settings.configFile = path
        }
        settings.apply(try overrides.layer())
        return settings
    }

    mutating func apply(_ layer: SettingsLayer) {
        for (_, update) in layer.updates { update(&self) }
    }
}

/// One source of values (the config file or the flags), already checked: an update per key given.
struct SettingsLayer {
    private(set) var updates: [(key: String, update: SettingSpec.Update)] = []

    mutating func add(_ key: String, _ update: @escaping SettingSpec.Update) { updates.append((key, update)) }

    func has(_ key: String) -> Bool { updates.contains { $0.key == key } }
}
