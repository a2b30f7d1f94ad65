import Glibc
import Posix

/// The counters and gauges of one daemon's life, rendered in the Prometheus text format for node_exporter's
/// textfile collector, and written atomically (temp file in the same directory, fsync, rename) after each resync.
/// Modelled on ingress-nginx's `nginx_ingress_controller_config_last_reload_*` metrics.
package struct MetricsFile: Sendable {
    package struct RouteState: Sendable, Equatable {
        package var location: String
        package var service: String
        package var inSync: Bool
        package init(location: String, service: String, inSync: Bool) {
            self.location = location; self.service = service; self.inSync = inSync
        }
    }

    package let path: String
    package private(set) var resyncs: [ResyncOutcome: Int] = [:]
    package private(set) var reloadsOK = 0
    package private(set) var reloadsFailed = 0
    package private(set) var lastSuccess: Double?
    package var watchReconnects = 0
    package var routes: [RouteState] = []
    package private(set) var checkDuration: Duration?
    package private(set) var reloadDuration: Duration?

    package init(path: String) { self.path = path }

    /// One resync's result; `at` is the wall-clock time in seconds since the epoch.
    package mutating func record(_ kind: ResyncOutcome, at time: Double, check: Duration?, reload: Duration?,
                                reloadOK: Bool?) {
        resyncs[kind, default: 0] += 1
        if kind != .failed { lastSuccess = time }
        if let check { checkDuration = check }
        if let reload { reloadDuration = reload }
        switch reloadOK {
        case true?: reloadsOK += 1
        case false?: reloadsFailed += 1
        case nil: break
        }
    }

    package func render() -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += name + labels + " " + value + "\n" }
        }
        metric("ipsyncd_resyncs_total", "counter", "Resyncs by result.",
               ResyncOutcome.allCases.map { ("{result=\"\($0.rawValue)\"}", String(resyncs[$0] ?? 0)) })
        metric("ipsyncd_reloads_total", "counter", "nginx reloads by result.",
               [("{result=\"ok\"}", String(reloadsOK)), ("{result=\"failed\"}", String(reloadsFailed))])
        metric("ipsyncd_last_success_timestamp_seconds", "gauge",
               "Time of the last resync that did not fail, in seconds since the epoch (0: none yet).",
               [("", lastSuccess.map(Self.number) ?? "0")])
        metric("ipsyncd_watch_reconnects_total", "counter", "Reconnects of the Kubernetes watch.",
               [("", String(watchReconnects))])
        metric("ipsyncd_route_in_sync", "gauge",
               "1 when the route's address in the site file is the Service's live address.",
               routes.map { ("{location=\"\(Self.label($0.location))\",service=\"\(Self.label($0.service))\"}",
                             $0.inSync ? "1" : "0") })
        metric("ipsyncd_check_duration_seconds", "gauge", "Duration of the last nginx config check.",
               [("", checkDuration.map { Self.number(Self.seconds($0)) } ?? "0")])
        metric("ipsyncd_reload_duration_seconds", "gauge", "Duration of the last nginx reload.",
               [("", reloadDuration.map { Self.number(Self.seconds($0)) } ?? "0")])
        return out
    }

    /// Atomic replace: the collector never reads a half-written file.
    package func write() throws(ConfigError) {
        // Not durable: it is rewritten at every resync, and its fsyncs came just as nginx's new workers start.
        do { try Posix.replace(path, with: Array(render().utf8), mode: 0o644, durable: false) } catch {
            throw ConfigError(code: .metricsWrite, source: path, key: "metrics_file",
                              message: "cannot write it (\(error)); check that the directory exists and is writable")
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Label values escape backslash, quote and newline.
    static func label(_ value: String) -> String {
        value.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"").replacingOccurrences("\n", "\\n")
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for ch in self { if ch == target { out += replacement } else { out.append(ch) } }
        return out
    }
}
