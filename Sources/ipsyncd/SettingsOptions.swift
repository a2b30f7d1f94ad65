import ArgumentParser
import IpsyncdCore

/// The options every command shares (DESIGN §4): each is also a key of the config file.
struct SettingsOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp(
        "The YAML config file.", discussion: "Default: \(Settings.defaultConfigPath) if it exists, else the built-in defaults.",
        valueName: "path"))
    var configPath: String?

    @Option(help: help("The kubeconfig to use.", key: "kubeconfig",
                       default: "$KUBECONFIG, then in-cluster, then /etc/rancher/k3s/k3s.yaml, /etc/kubernetes/admin.conf, ~/.kube/config",
                       value: "path"))
    var kubeconfig: String?

    @Option(help: help("The kubeconfig context.", key: "context", default: "the kubeconfig's current-context", value: "name"))
    var context: String?

    @Option(help: help("The namespace of the Services.", key: "namespace", default: Settings().namespace, value: "ns"))
    var namespace: String?

    @Option(help: help("The nginx site file whose proxy targets are kept up to date (a symlink stays one).",
                       key: "site", default: Settings().site, value: "path"))
    var site: String?

    @Option(help: help("The main nginx config the staged check is built from.", key: "nginx_conf",
                       default: Settings().nginxConf, value: "path"))
    var nginxConf: String?

    @Option(help: help("A route: nginx `location LOC` proxies to the Service's ClusterIP and port (a port name or number; without one the Service must have exactly one port). Repeat for several; the flags replace the config file's routes.",
                       key: "routes", default: Settings().routes.map(\.description).joined(separator: " "),
                       value: "loc=service[:port]"))
    var route: [String] = []

    @Option(help: help("Render the whole site file from this template instead of patching its targets.",
                       key: "template", default: "none (patch mode)", value: "path"))
    var template: String?

    @Option(help: help("Checks a config; {config} is the staged main config's path.", key: "check_command",
                       default: Settings().checkCommand, value: "cmd"))
    var checkCommand: String?

    @Option(help: help("Reloads nginx.", key: "reload_command", default: Settings().reloadCommand, value: "cmd"))
    var reloadCommand: String?

    @Option(help: help("Quiet time after the last event before a resync.", key: "settle",
                       default: "50ms", value: "duration"))
    var settle: String?

    @Option(help: help("Least time between two reloads.", key: "min_reload_interval", default: "1s", value: "duration"))
    var minReloadInterval: String?

    @Option(help: help("Full relist and file check this often.", key: "resync_interval", default: "5m", value: "duration"))
    var resyncInterval: String?

    @Option(help: help("auto (journal under systemd, else text), journal, text or json.", key: "log_format",
                       default: "auto", value: "format"))
    var logFormat: String?

    @Option(help: help("trace, debug, info, notice, warning, error or critical.", key: "log_level",
                       default: "info", value: "level"))
    var logLevel: String?

    @Option(help: help("Timeout of the check and reload commands.", key: "command_timeout", default: "30s",
                       value: "duration"))
    var commandTimeout: String?

    @Option(help: help("Lock, last good copy and crash-recovery notes.", key: "state_dir",
                       default: Settings().stateDir, value: "path"))
    var stateDir: String?

    @Option(help: help("Prometheus text file written after each resync (node_exporter textfile collector).",
                       key: "metrics_file", default: "none", value: "path"))
    var metricsFile: String?

    var overrides: SettingsOverrides {
        var overrides = SettingsOverrides()
        overrides.kubeconfig = kubeconfig
        overrides.context = context
        overrides.namespace = namespace
        overrides.site = site
        overrides.nginxConf = nginxConf
        overrides.routes = route
        overrides.template = template
        overrides.checkCommand = checkCommand
        overrides.reloadCommand = reloadCommand
        overrides.settle = settle
        overrides.minReloadInterval = minReloadInterval
        overrides.resyncInterval = resyncInterval
        overrides.logFormat = logFormat
        overrides.logLevel = logLevel
        overrides.commandTimeout = commandTimeout
        overrides.stateDir = stateDir
        overrides.metricsFile = metricsFile
        return overrides
    }

    func load() -> Result<Settings, ConfigError> {
        Result { () throws(ConfigError) in try Settings.load(configPath: configPath, overrides: overrides) }
    }
}

private func help(_ abstract: String, key: String, default value: String, value name: String) -> ArgumentHelp {
    ArgumentHelp("\(abstract) (config key `\(key)`; default: \(value))", valueName: name)
}
