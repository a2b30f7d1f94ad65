import K8sWatch
import Logging
import NginxApply
import NginxConf
import Posix

extension Commands {
    /// `ipsyncd check`: one line per check with ok, WARN or FAIL and what to do. Exit 0 when nothing failed.
    package static func check(settings loaded: Result<Settings, ConfigError>, source: (any ServiceSource)?,
                             logger: Logger) async -> CommandOutput {
        var report = CheckReport()
        guard case .success(let settings) = loaded else {
            if case .failure(let error) = loaded { report.fail("config", "\(error)") }
            return report.output
        }
        report.ok("config", (settings.configFile.map { "read \($0)" } ?? "built-in defaults (no config file)")
                  + "; namespace \(settings.namespace); routes " + settings.routes.map(\.description).joined(separator: " "))
        if !settings.checkCommand.contains("{config}") {
            report.warn("config", "check_command `\(settings.checkCommand)` has no {config}: it checks the live config, "
                        + "not the candidate; use something like `nginx -t -c {config}`")
        }

        var snapshot: ServiceSnapshot?
        if let source {
            switch await source.probeResult() {
            case .success:
                report.ok("kubernetes", "\(source.name): list and watch of services in \(settings.namespace) allowed")
                switch await source.snapshotResult() {
                case .success(let value): snapshot = value
                case .failure(let error): report.fail("kubernetes", "cannot list services: \(error)")
                }
            case .failure(let error):
                report.fail("kubernetes", "\(source.name): \(error)")
            }
        }

        let site: [UInt8]
        do { site = try Posix.read(settings.site) } catch {
            report.fail("site", "cannot read \(settings.site) (\(error.reason)); check the `site` setting"
                        + (settings.template != nil ? " or create it with ipsyncd render --output \(settings.site)" : ""))
            return report.output
        }
        let file: ConfigFile
        do { file = try ConfigFile.parse(site, path: settings.site) } catch {
            report.fail("site", "cannot parse: \(error); fix the file")
            return report.output
        }
        report.ok("site", "\(settings.site) parsed (\(site.count) bytes)")

        if let template = settings.template {
            if Posix.exists(template) { report.ok("template", "\(template) (template mode)") } else {
                report.fail("template", "\(template) does not exist; fix the `template` setting or remove it for patch mode")
            }
        }

        let routedServices = Array(Set(settings.routes.map(\.service))).sorted()
        if let snapshot, !routedServices.isEmpty, routedServices.allSatisfy({ snapshot.services[$0] == nil }) {
            report.fail("kubernetes", "none of the routed Services (\(routedServices.joined(separator: ", "))) exists in namespace "
                        + "\(settings.namespace); check the namespace setting and the routes' Service names "
                        + "(kubectl get services -n \(settings.namespace))")
        }
        for route in settings.routes {
            let name = "route \(route.location)"
            switch file.targets(route: route.location) {
            case .failure(let error):
                report.fail(name, "\(error)")
            case .success(let targets):
                let addresses = Array(Set(targets.map(\.address))).sorted()
                var text = "\(targets.count) target\(targets.count == 1 ? "" : "s") (\(addresses.joined(separator: ", "))) for \(route.service)"
                if let snapshot {
                    switch ServiceAddress.resolve(route, in: snapshot, serviceCIDRs: settings.serviceCIDRs) {
                    case .success(let live):
                        let same = addresses.allSatisfy { Reconciler.sameAddress($0, live) }
                        text += same ? ", in sync with \(live)" : ", live address \(live): run ipsyncd sync"
                    case .failure(let why):
                        report.warn(name, text + "; \(why): the route keeps its address until the Service has one")
                        continue
                    }
                }
                report.ok(name, text)
            }
        }

        let webSocketRoutes = WebSocketCheck.webSocketRoutes(site: file, routes: settings.routes)
        if !webSocketRoutes.isEmpty, let warning = WebSocketCheck.warning(
            webSocketRoutes: webSocketRoutes, mainConfig: settings.nginxConf,
            hasTimeout: WebSocketCheck.hasWorkerShutdownTimeout(WebSocketCheck.mainConfigs(path: settings.nginxConf))) {
            report.warn("websocket", warning)
        }

        do {
            let plan = try Applier(options: ApplyOptions(settings: settings), logger: logger).stagingPlan()
            if plan.isStaged { report.ok("staged check", plan.summary) } else {
                report.warn("staged check", plan.summary
                            + "; ipsyncd will swap, check and restore on failure instead: include the site from \(settings.nginxConf)")
            }
        } catch {
            report.fail("staged check", "\(error)")
        }
        // `sync` and `run` take their lock and keep their notes there: a state directory they cannot write fails them.
        if let problem = Applier(options: ApplyOptions(settings: settings), logger: logger).stateDirectoryProblem() {
            report.fail("state_dir", problem)
        } else {
            report.ok("state_dir", "\(settings.stateDir) writable")
        }

        if let snapshot {
            let plan = Reconciler.plan(snapshot: snapshot, routes: settings.routes, site: site, sitePath: settings.site,
                                       template: nil, serviceCIDRs: settings.serviceCIDRs)
            for warning in plan.warnings { report.warn("stray target", warning) }
        }
        return report.output
    }
}

/// The lines of `check`; the exit code is 1 when any line failed.
struct CheckReport {
    private(set) var lines: [String] = []
    private(set) var failed = false

    mutating func ok(_ name: String, _ text: String) { lines.append("ok    \(name): \(text)") }
    mutating func warn(_ name: String, _ text: String) { lines.append("WARN  \(name): \(text)") }
    mutating func fail(_ name: String, _ text: String) {
        failed = true
        lines.append("FAIL  \(name): \(text)")
    }

    var output: CommandOutput {
        let text = lines.joined(separator: "\n") + "\n" + (failed ? "check failed\n" : "all checks passed\n")
        return CommandOutput(stdout: Array(text.utf8), exitCode: failed ? 1 : 0)
    }
}
