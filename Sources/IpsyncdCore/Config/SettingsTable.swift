import Logging

/// One key of the settings (docs/design.md §4.2): its config key, flag, help line, default, range and
/// parser. The YAML parser, the flags, `--help`, packaging/ipsyncd.yaml and the README table all come
/// from `SettingsTable.all`; the typed defaults live in `Settings`, and the texts here are read from them.
package struct SettingSpec {
    /// Applies a parsed value.
    typealias Update = (inout Settings) -> Void
    /// Where a value came from, for errors: the file or "command line", the key or flag, the line.
    struct Place { var source: String; var key: String; var line: Int }

    package let key: String
    package let flag: String
    package let valueName: String
    package let help: String
    package let defaultText: String
    /// Durations only: the values that can be meant (docs/design.md §4.3).
    package let range: ClosedRange<Duration>?
    /// Sample file: the comment above the key (empty: it shares the previous key's comment) and its lines.
    let comment: [String]
    let sample: [String]
    /// YAML null means "not given" (keys whose default is none).
    let nullable: Bool
    /// A YAML list of texts is read as the comma-separated text of the flag.
    var acceptsList = false
    /// Text of a flag or a scalar YAML value → an update; nil for `routes`, whose shapes are lists.
    let parse: ((String, Place) throws(ConfigError) -> Update)?
}

package enum SettingsTable {
    package static var all: [SettingSpec] {
        let defaults = Settings()
        return [
            text("kubeconfig", \.kubeconfig, value: "path", help: "The kubeconfig to use.",
                 default: "$KUBECONFIG, then in-cluster, then /etc/rancher/k3s/k3s.yaml, /etc/kubernetes/admin.conf, ~/.kube/config",
                 comment: ["Kubernetes credentials. Unset: $KUBECONFIG, then in-cluster, then /etc/rancher/k3s/k3s.yaml,",
                           "/etc/kubernetes/admin.conf, ~/.kube/config (home directories are read-only for the service).",
                           "Without a usable kubeconfig `ipsyncd run` exits 78 and the unit stops (no restart loop)."],
                 sample: "/etc/rancher/k3s/k3s.yaml"),
            text("context", \.context, value: "name", help: "The kubeconfig context.",
                 default: "the kubeconfig's current-context", comment: [], sample: "default"),
            spec("namespace", value: "ns", help: "The namespace of the Services.", default: defaults.namespace,
                 comment: ["The namespace of the routed Services."]) { text, place throws(ConfigError) in
                let value = try SettingValues.namespace(text, place)
                return { $0.namespace = value }
            },
            text("site", \.site, value: "path",
                 help: "The nginx site file whose proxy targets are kept up to date (a symlink stays one).",
                 comment: ["The nginx site file whose proxy targets are kept in sync (a symlink into sites-available stays a symlink),",
                           "and the main config the staged `nginx -t` is built from."]),
            text("nginx_conf", \.nginxConf, value: "path", help: "The main nginx config the staged check is built from.",
                 comment: []),
            SettingSpec(key: "routes", flag: "--route", valueName: "loc=service[:port]",
                        help: "A route: nginx `location LOC` proxies to the Service's ClusterIP and port (a port name or number; without one the Service must have exactly one port). Repeat for several; the flags replace the config file's routes.",
                        defaultText: defaults.routes.map(\.description).joined(separator: " "), range: nil,
                        comment: ["Which location proxies to which Service. `port` is a Service port name or number; leave it out when the",
                                  "Service has exactly one port. The address written is the ClusterIP and the Service port (not targetPort)."],
                        sample: ["#routes:"] + defaults.routes.flatMap { route in
                            ["#  - location: \(route.location)", "#    service: \(route.service)"]
                                + (route.port.map { ["#    port: \($0)"] } ?? [])
                        } + ["#    # port: http"],
                        nullable: false, parse: nil),
            text("template", \.template, value: "path",
                 help: "Render the whole site file from this template instead of patching its targets.",
                 default: "none (patch mode)",
                 comment: ["Template mode: render the whole site file from a template ({{ api-gateway }} is ADDRESS:PORT) instead of",
                           "patching the addresses in place."],
                 sample: "/etc/ipsyncd/flowmaster.conf.tmpl"),
            text("check_command", \.checkCommand, value: "cmd",
                 help: "Checks a config; {config} is the staged main config's path.",
                 comment: ["The check ({config} is the staged main config) and the reload."]),
            text("reload_command", \.reloadCommand, value: "cmd", help: "Reloads nginx.", comment: []),
            duration("command_timeout", \.commandTimeout, range: .seconds(1) ... .seconds(600),
                     help: "Timeout of the check and reload commands.", comment: []),
            duration("api_timeout", \.apiTimeout, range: .seconds(1) ... .seconds(600),
                     help: "Deadline of a whole LIST/GET to the API server, credential plugin included (headers: half of it).",
                     comment: ["Kubernetes API: deadline of a LIST/GET, exec credential plugin timeout, silence after which a",
                               "watch connection is dead (TCP keepalive; 1.25x this once the server sends bookmarks)."]),
            duration("exec_timeout", \.execTimeout, range: .seconds(1) ... .seconds(600),
                     help: "An exec credential plugin is killed with its process group after this.", comment: []),
            duration("watch_silence", \.watchSilence, range: .seconds(2) ... .seconds(3600),
                     help: "A watch connection silent this long is dead.", comment: []),
            duration("settle", \.settle, range: .zero ... .seconds(10),
                     help: "Quiet time after the last event before a resync.",
                     comment: ["Timing: quiet time after the last change before a resync (a burst is applied at the latest 1s after its",
                               "first event), the least time between two reloads, and the full relist + file check."]),
            duration("min_reload_interval", \.minReloadInterval, range: .zero ... .seconds(600),
                     help: "Least time between two reloads.", comment: []),
            duration("resync_interval", \.resyncInterval, range: .seconds(1) ... .seconds(86_400),
                     help: "Full relist and file check this often.", comment: []),
            spec("log_format", value: "format", help: "auto (journal under systemd, else text), journal, text or json.",
                 default: defaults.logFormat.rawValue,
                 comment: ["Logging: auto (journal under systemd, text on a terminal), journal, text or json;",
                           "trace, debug, info, notice, warning, error or critical."]) { text, place throws(ConfigError) in
                let value = try SettingValues.logFormat(text, place)
                return { $0.logFormat = value }
            },
            spec("log_level", value: "level", help: "trace, debug, info, notice, warning, error or critical.",
                 default: defaults.logLevel.rawValue, comment: []) { text, place throws(ConfigError) in
                let value = try SettingValues.logLevel(text, place)
                return { $0.logLevel = value }
            },
            SettingSpec(key: "service_cidr", flag: flag("service_cidr"), valueName: "cidr,…",
                        help: "Refuse ClusterIPs outside these blocks (the cluster's service CIDRs, comma-separated).",
                        defaultText: "none (any address that can be a ClusterIP)", range: nil,
                        comment: ["The cluster's Service address blocks: a ClusterIP outside every block is refused and the route keeps",
                                  "its address (k3s: 10.43.0.0/16). Unset: any address except unspecified, broadcast, multicast and",
                                  "IPv4-mapped ones."],
                        sample: ["#service_cidr: [10.43.0.0/16]"], nullable: true, acceptsList: true) { text, place throws(ConfigError) in
                let value = try SettingValues.cidrs(text, place)
                return { $0.serviceCIDRs = value }
            },
            text("state_dir", \.stateDir, value: "path", help: "Lock, last good copy and crash-recovery notes.",
                 comment: ["The lock, the last good copy of the site file and crash-recovery notes."]),
            text("metrics_file", \.metricsFile, value: "path",
                 help: "Prometheus text file written after each resync (node_exporter textfile collector).",
                 default: "none",
                 comment: ["Prometheus text file for node_exporter's textfile collector, written atomically after each resync.",
                           "Debian's prometheus-node-exporter reads /var/lib/prometheus/node-exporter, which the unit may write;",
                           "for another directory run `systemctl edit ipsyncd` and add [Service] ReadWritePaths=/that/dir."],
                 sample: "/var/lib/prometheus/node-exporter/ipsyncd.prom"),
        ]
    }

    package static var keys: [String] { all.map(\.key) }

    package static func spec(_ key: String) -> SettingSpec? { all.first { $0.key == key } }

    // MARK: Kinds of entries

    private static func spec(_ key: String, value: String, help: String, default text: String, comment: [String],
                             parse: @escaping (String, SettingSpec.Place) throws(ConfigError) -> SettingSpec.Update) -> SettingSpec {
        SettingSpec(key: key, flag: flag(key), valueName: value, help: help, defaultText: text, range: nil,
                    comment: comment, sample: ["#\(key): \(text)"], nullable: false, parse: parse)
    }

    /// A required text whose default is in `Settings`.
    private static func text(_ key: String, _ path: WritableKeyPath<Settings, String>, value: String, help: String,
                             comment: [String]) -> SettingSpec {
        let text = Settings()[keyPath: path]
        return SettingSpec(key: key, flag: flag(key), valueName: value, help: help, defaultText: text, range: nil,
                           comment: comment, sample: ["#\(key): \(text)"], nullable: false) { text, place throws(ConfigError) in
            let value = try SettingValues.text(text, place)
            return { $0[keyPath: path] = value }
        }
    }

    /// An optional text (default none): YAML null means not given; the sample shows an example value.
    private static func text(_ key: String, _ path: WritableKeyPath<Settings, String?>, value: String, help: String,
                             default text: String, comment: [String], sample: String) -> SettingSpec {
        SettingSpec(key: key, flag: flag(key), valueName: value, help: help, defaultText: text, range: nil,
                    comment: comment, sample: ["#\(key): \(sample)"], nullable: true) { text, place throws(ConfigError) in
            let value = try SettingValues.text(text, place)
            return { $0[keyPath: path] = value }
        }
    }

    private static func duration(_ key: String, _ path: WritableKeyPath<Settings, Duration>, range: ClosedRange<Duration>,
                                 help: String, comment: [String]) -> SettingSpec {
        let text = DurationText.format(Settings()[keyPath: path])
        return SettingSpec(key: key, flag: flag(key), valueName: "duration", help: help, defaultText: text, range: range,
                           comment: comment, sample: ["#\(key): \(text)"], nullable: false) { text, place throws(ConfigError) in
            let value = try SettingValues.duration(text, range: range, place)
            return { $0[keyPath: path] = value }
        }
    }

    private static func flag(_ key: String) -> String { "--" + key.replacing("_", with: "-") }
}

extension SettingSpec {
    /// `0 to 10s`
    package var rangeText: String? {
        range.map { "\(DurationText.format($0.lowerBound)) to \(DurationText.format($0.upperBound))" }
    }

    /// The `--help` line: what it does, the config key, the default and the range.
    package var helpLine: String {
        "\(help) (config key `\(key)`; default: \(defaultText)" + (rangeText.map { "; \($0)" } ?? "") + ")"
    }
}
