import ArgumentParser
import IpsyncdCore

/// The options every command shares: each is a key of the config file. Flag names, help lines, defaults
/// and ranges come from `SettingsTable`; only the properties are listed here (ArgumentParser needs them).
struct SettingsOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp(
        "The YAML config file.", discussion: "Default: \(Settings.defaultConfigPath) if it exists, else the built-in defaults.",
        valueName: "path"))
    var configPath: String?

    @Option(name: name("kubeconfig"), help: help("kubeconfig")) var kubeconfig: String?
    @Option(name: name("context"), help: help("context")) var context: String?
    @Option(name: name("namespace"), help: help("namespace")) var namespace: String?
    @Option(name: name("site"), help: help("site")) var site: String?
    @Option(name: name("nginx_conf"), help: help("nginx_conf")) var nginxConf: String?
    @Option(name: name("routes"), help: help("routes")) var route: [String] = []
    @Option(name: name("template"), help: help("template")) var template: String?
    @Option(name: name("check_command"), help: help("check_command")) var checkCommand: String?
    @Option(name: name("reload_command"), help: help("reload_command")) var reloadCommand: String?
    @Option(name: name("command_timeout"), help: help("command_timeout")) var commandTimeout: String?
    @Option(name: name("settle"), help: help("settle")) var settle: String?
    @Option(name: name("min_reload_interval"), help: help("min_reload_interval")) var minReloadInterval: String?
    @Option(name: name("resync_interval"), help: help("resync_interval")) var resyncInterval: String?
    @Option(name: name("log_format"), help: help("log_format")) var logFormat: String?
    @Option(name: name("log_level"), help: help("log_level")) var logLevel: String?
    @Option(name: name("service_cidr"), help: help("service_cidr")) var serviceCIDR: String?
    @Option(name: name("state_dir"), help: help("state_dir")) var stateDir: String?
    @Option(name: name("metrics_file"), help: help("metrics_file")) var metricsFile: String?

    var overrides: SettingsOverrides {
        var overrides = SettingsOverrides()
        overrides.values = [
            "kubeconfig": kubeconfig, "context": context, "namespace": namespace, "site": site,
            "nginx_conf": nginxConf, "template": template, "check_command": checkCommand,
            "reload_command": reloadCommand, "command_timeout": commandTimeout, "settle": settle,
            "min_reload_interval": minReloadInterval, "resync_interval": resyncInterval, "log_format": logFormat,
            "log_level": logLevel, "service_cidr": serviceCIDR, "state_dir": stateDir, "metrics_file": metricsFile,
        ].compactMapValues { $0 }
        overrides.routes = route
        return overrides
    }

    func load() -> Result<Settings, ConfigError> {
        Result { () throws(ConfigError) in try Settings.load(configPath: configPath, overrides: overrides) }
    }
}

private func spec(_ key: String) -> SettingSpec {
    guard let spec = SettingsTable.spec(key) else { fatalError("no setting \(key) in SettingsTable") }
    return spec
}

private func name(_ key: String) -> NameSpecification { .customLong(String(spec(key).flag.dropFirst(2))) }

private func help(_ key: String) -> ArgumentHelp {
    ArgumentHelp(spec(key).helpLine, valueName: spec(key).valueName)
}
