import ArgumentParser
import Posix
import IpsyncdCore

/// Loads the settings and starts logging; a bad flag value ends the command with 64 (EX_USAGE), a config
/// file error with 1, or with `configFileExit` (78 for `run`: a restart cannot fix it).
private func prepare(_ options: SettingsOptions, configFileExit: Int32 = 1) throws -> Settings {
    switch options.load() {
    case .success(let settings):
        LogSetup.bootstrap(format: settings.logFormat, level: settings.logLevel)
        return settings
    case .failure(let error):
        Posix.writeAll(2, Array("ipsyncd: \(error)\n".utf8))
        throw ExitCode(error.isUsageError ? 64 : configFileExit)   // a bad flag value is a usage error, like an unknown flag
    }
}

/// Prints a command's output and ends with its exit code.
private func finish(_ result: CommandOutput) throws {
    Posix.writeAll(1, result.stdout)
    Posix.writeAll(2, Array(result.stderr.utf8))
    if result.exitCode != 0 { throw ExitCode(result.exitCode) }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: watch the Services, resync on change and every --resync-interval.",
        discussion: """
            Logs one line per resync (to the journal under systemd). SIGHUP reloads the config and \
            resyncs; SIGTERM finishes an apply in progress and exits 0. Exits 78 (EX_CONFIG) when the \
            config file is invalid or no usable kubeconfig is found: a restart cannot fix that.

            Example: ipsyncd run --dry-run --log-format text   (logs the diffs it would apply)
            """)
    @OptionGroup var options: SettingsOptions
    @Flag(help: "Log the diff each resync would apply; never write a file, never run the check or reload command.")
    var dryRun = false

    func run() async throws {
        let settings = try prepare(options, configFileExit: ExitStatus.config)
        try finish(await Commands.run(settings: settings, dryRun: dryRun))
    }
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "One resync: read the Services, update the site file if needed, then exit.",
        discussion: """
            Exit codes: 0 in sync or applied; 1 on any error (the message is on stderr); 2 with \
            --dry-run when changes are pending (the unified diff is on stdout).

            Example: ipsyncd sync --dry-run | less
            """)
    @OptionGroup var options: SettingsOptions
    @Flag(help: "Print the unified diff and exit 2 if changes are pending; never write a file, never run the check or reload command.")
    var dryRun = false

    func run() async throws {
        let settings = try prepare(options)
        try finish(await Commands.sync(settings: settings, dryRun: dryRun))
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Per route: the Service's live address, the address(es) in the site file, in sync?",
        discussion: "Exit codes: 0 every route in sync; 1 otherwise, or when the API or the site file cannot be read.")
    @OptionGroup var options: SettingsOptions
    @Flag(help: "JSON output with stable keys.")
    var json = false

    func run() async throws {
        let settings = try prepare(options)
        try finish(await Commands.status(settings: settings, json: json))
    }
}

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the setup: config, Kubernetes access (list + watch), site file, routes, staged-check include.",
        discussion: "Prints one line per check (ok, WARN or FAIL, with what to do). Exit codes: 0 healthy, 1 otherwise.")
    @OptionGroup var options: SettingsOptions

    func run() async throws {
        let settings = options.load()
        switch settings {
        case .success(let settings): LogSetup.bootstrap(format: settings.logFormat, level: settings.logLevel)
        case .failure(let error) where error.isUsageError: _ = try prepare(options)   // exits 64
        case .failure: break   // the report's first line says what is wrong with the file
        }
        try finish(await Commands.check(settings: settings))
    }
}

struct RenderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Print the template (--template) filled with the live addresses.",
        discussion: """
            In a template, {{ api-gateway }} is ADDRESS:PORT, {{ api-gateway.ip }} and \
            {{ api-gateway.port }} are the parts.

            Example: ipsyncd render --template templates/flowmaster.conf.tmpl --output /tmp/flowmaster
            """)
    @OptionGroup var options: SettingsOptions
    @Option(help: ArgumentHelp("Where to write the result; - is stdout.", valueName: "path|-"))
    var output = "-"

    func run() async throws {
        let settings = try prepare(options)
        try finish(await Commands.render(settings: settings, output: output))
    }
}

/// Prints the texts generated from the settings table: `sample` is packaging/ipsyncd.yaml, `readme` the
/// README's configuration table. Hidden: it is for keeping those files in step with the code.
struct SettingsDocsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings-docs", abstract: "Print packaging/ipsyncd.yaml or the README's settings table.",
        shouldDisplay: false)
    @Argument(help: "sample or readme") var which: String

    func run() throws {
        switch which {
        case "sample": Posix.writeAll(1, Array(SettingsDocs.sampleFile().utf8))
        case "readme": Posix.writeAll(1, Array(SettingsDocs.readmeTable().utf8))
        default: throw ValidationError("say sample or readme")
        }
    }
}
