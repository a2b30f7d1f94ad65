import NginxApply
import NginxConf
import Posix

/// `check`'s WebSocket warning. On a reload nginx's old workers keep every open connection until it closes;
/// for WebSocket clients that can be hours, so each reload ipsyncd makes leaves another set of old workers
/// behind, unless the main config bounds their life with `worker_shutdown_timeout`.
enum WebSocketCheck {
    /// The routed locations that proxy WebSocket traffic: `/ws/`, or any with `proxy_set_header Upgrade …`.
    static func webSocketRoutes(site: ConfigFile, routes: [Route]) -> [String] {
        routes.map(\.location).filter { location in
            location == "/ws/" || site.locations(exactly: location).contains { block in
                ConfigFile.containsDirective(in: block.children ?? []) { directive in
                    directive.name == "proxy_set_header"
                        && directive.arguments.first?.value.lowercased() == "upgrade"
                }
            }
        }
    }

    /// Whether any of the configs (the main config and the files it includes at its top level, where the
    /// directive is allowed) sets `worker_shutdown_timeout`.
    static func hasWorkerShutdownTimeout(_ configs: [ConfigFile]) -> Bool {
        configs.contains { !$0.directives(named: "worker_shutdown_timeout").isEmpty }
    }

    /// The warning `check` prints, or nil when there is nothing to say.
    static func warning(webSocketRoutes: [String], mainConfig: String, hasTimeout: Bool) -> String? {
        guard !webSocketRoutes.isEmpty, !hasTimeout else { return nil }
        return "\(webSocketRoutes.joined(separator: ", ")) proxies WebSocket connections and \(mainConfig) has no "
            + "worker_shutdown_timeout: after every reload the old nginx workers keep serving open WebSocket "
            + "connections until the clients leave, and frequent reloads pile them up; add "
            + "`worker_shutdown_timeout 60s;` at the top level of \(mainConfig) (clients reconnect to the new workers)"
    }

    /// The main config and the files its top-level includes load, parsed; unreadable ones are skipped.
    static func mainConfigs(path: String) -> [ConfigFile] {
        guard let main = try? Staging.MainConfig.load(path) else { return [] }
        var configs = [main.file]
        for include in main.file.directives where include.name == "include" {
            guard let pattern = include.arguments.first?.value else { continue }
            for file in Staging.expand(pattern, relativeTo: main.directory) {
                if let bytes = try? Posix.read(file), let parsed = try? ConfigFile.parse(bytes, path: file) {
                    configs.append(parsed)
                }
            }
        }
        return configs
    }
}

extension ConfigFile {
    /// Whether a directive matching `predicate` is among `directives` or their children, at any depth.
    static func containsDirective(in directives: [Directive], where predicate: (Directive) -> Bool) -> Bool {
        directives.contains { predicate($0) || containsDirective(in: $0.children ?? [], where: predicate) }
    }
}
