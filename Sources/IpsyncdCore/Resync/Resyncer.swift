import K8sWatch
import Logging
import NginxApply
import Posix

/// One resync (docs/design.md §6 step 1, then the applier): read the site, plan, and apply when the bytes differ.
package struct Resyncer: Sendable {
    package var routes: [Route]
    package var sitePath: String
    /// Template mode when set: the template is read at every resync (an edit takes effect at the next one).
    package var templatePath: String?
    package var applier: Applier
    /// The `service_cidr` setting: addresses outside are refused (empty: no limit).
    package var serviceCIDRs: [ServiceCIDR] = []

    package init(routes: [Route], sitePath: String, templatePath: String?, applier: Applier) {
        self.routes = routes
        self.sitePath = sitePath
        self.templatePath = templatePath
        self.applier = applier
    }

    package init(settings: Settings, logger: Logger) {
        self.init(routes: settings.routes, sitePath: settings.site, templatePath: settings.template,
                  applier: Applier(options: ApplyOptions(settings: settings), logger: logger))
        serviceCIDRs = settings.serviceCIDRs
    }

    /// Plans made per resync when the site file keeps changing under the apply; then the resync fails and is retried.
    static let attempts = 4

    /// With `dryRun` the result carries the diff; no file is written and no command is run. `trace` gets the
    /// instants of the steps (the caller may have marked the event and the settle's end).
    package func resync(snapshot: ServiceSnapshot, dryRun: Bool, trace: PhaseTrace = PhaseTrace()) async -> ResyncResult {
        let clock = ContinuousClock()
        let start = clock.now
        var result = ResyncResult(outcome: .failed, dryRun: dryRun)
        result.trace = trace
        for attempt in 1...Self.attempts {
            let planStart = clock.now
            let plan: Plan
            switch makePlan(snapshot: snapshot) {
            case .success(let made): plan = made
            case .failure(let message):
                result.failure = message.message
                result.duration = clock.now - start
                return result
            }
            result.plan = plan
            result.planDuration = clock.now - planStart
            trace.mark(.planned)
            if let failure = plan.failure {
                result.outcome = .failed
                result.failure = failure
                break
            }
            if !plan.hasChanges {
                result.outcome = plan.outcomes.contains { $0.status == .kept } ? .kept : .inSync
                // A swap whose reload failed earlier leaves the file right and nginx on the old config.
                if !dryRun && applier.hasPendingReload {
                    do {
                        _ = try await applier.retryPendingReload()
                        result.reloadedPending = true
                    } catch {
                        result.outcome = .failed
                        result.applyError = error
                        result.failure = "the file is in sync but the reload of an earlier change failed: \(error)"
                    }
                }
                break
            }
            if dryRun {
                result.outcome = .dryRun
                break
            }
            let applyStart = clock.now
            do {
                result.report = try await applier.apply(candidate: plan.newBytes, expected: plan.oldBytes, trace: trace)
                result.applyDuration = clock.now - applyStart
                result.outcome = .applied
                break
            } catch {
                result.applyDuration = clock.now - applyStart
                // Someone wrote the file since our read (before the lock, or during the check): plan again
                // from what is there now, keeping the edit.
                if error.code == .siteChanged && attempt < Self.attempts { continue }
                result.outcome = .failed
                result.applyError = error
                result.failure = error.description
                break
            }
        }
        result.duration = clock.now - start
        return result
    }

    private func makePlan(snapshot: ServiceSnapshot) -> Result<Plan, Problem> {
        Self.readAndPlan(snapshot: snapshot, routes: routes, sitePath: sitePath, templatePath: templatePath,
                         serviceCIDRs: serviceCIDRs)
    }

    /// Reads the site (and the template) and plans; nothing is written. Also `status`'s input.
    static func readAndPlan(snapshot: ServiceSnapshot, routes: [Route], sitePath: String,
                            templatePath: String?, serviceCIDRs: [ServiceCIDR] = []) -> Result<Plan, Problem> {
        let site: [UInt8]
        do { site = try Posix.read(sitePath) } catch {
            return .failure(Problem(error.pathExists
                ? "cannot read the site file \(sitePath) (\(error.reason)); check its permissions"
                : "the site file \(sitePath) does not exist (\(error.reason)); create it (template mode: ipsyncd render --output \(sitePath)) or set `site`"))
        }
        var template: [UInt8]?
        if let templatePath {
            do { template = try Posix.read(templatePath) } catch {
                return .failure(Problem("cannot read the template \(templatePath) (\(error.reason)); check the `template` setting"))
            }
        }
        return .success(Reconciler.plan(snapshot: snapshot, routes: routes, site: site, sitePath: sitePath,
                                        template: template, templatePath: templatePath ?? "template",
                                        serviceCIDRs: serviceCIDRs))
    }
}

extension ApplyOptions {
    /// The applier's part of the settings.
    package init(settings: Settings) {
        self.init(sitePath: settings.site, nginxConf: settings.nginxConf, checkCommand: settings.checkCommand,
                  reloadCommand: settings.reloadCommand, commandTimeout: settings.commandTimeout,
                  stateDir: settings.stateDir)
    }
}
