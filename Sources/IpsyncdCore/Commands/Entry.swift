import K8sWatch
import Logging

/// The commands as `main` calls them: the real Kubernetes API, the process environment, the bootstrapped logger.
extension Commands {
    static var logger: Logger { Logger(label: "ipsyncd") }

    static func source(_ settings: Settings) -> any ServiceSource {
        do { return try settings.kubernetesSource(environment: ProcessEnvironment.current) } catch {
            return UnusableSource(error: error, name: settings.kubeconfig.map { "kubeconfig \($0)" } ?? "the kubeconfig")
        }
    }

    /// `ipsyncd run [--dry-run]`: the daemon, until SIGTERM; its exit code.
    public static func run(settings: Settings, dryRun: Bool) async -> CommandOutput {
        CommandOutput(exitCode: await Daemon(settings: settings, logger: logger, dryRun: dryRun).run())
    }

    public static func sync(settings: Settings, dryRun: Bool) async -> CommandOutput {
        await sync(settings: settings, dryRun: dryRun, source: source(settings), logger: logger)
    }

    public static func status(settings: Settings, json: Bool) async -> CommandOutput {
        await status(settings: settings, json: json, source: source(settings))
    }

    public static func check(settings: Result<Settings, ConfigError>) async -> CommandOutput {
        await check(settings: settings, source: (try? settings.get()).map(source), logger: logger)
    }

    public static func render(settings: Settings, output: String) async -> CommandOutput {
        await render(settings: settings, output: output, source: source(settings))
    }
}
