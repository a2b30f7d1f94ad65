import ArgumentParser
import IpsyncdCore

@main
struct Ipsyncd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipsyncd",
        abstract: "Keeps the proxy targets in an nginx site file pointed at the live Kubernetes ClusterIPs.",
        discussion: """
            ipsyncd watches the Services of one namespace and, when a ClusterIP changes (a Service deleted \
            and created again), rewrites only the address bytes of the matching proxy_pass targets, checks \
            the new config with `nginx -t` inside the full nginx configuration, swaps the file atomically \
            and reloads nginx.

            Every option is also a key of the YAML config file (default \(Settings.defaultConfigPath)); \
            a flag wins over the file, the file over the built-in default.

            Examples:
              ipsyncd check                               is everything in place?
              ipsyncd status                              is nginx pointing at the right place?
              ipsyncd sync --dry-run                      the diff a resync would apply
              ipsyncd sync                                one resync, then exit
              ipsyncd run                                 the daemon (systemd unit: ipsyncd.service)
              ipsyncd sync --route /api/=api-gateway:9000 --site ./flowmaster --dry-run

            Exit codes: 0 success (in sync, applied, healthy); 1 error or not healthy; 2 `sync --dry-run` \
            with changes pending; 64 a usage error (unknown flag, missing or bad flag value); 78 `run` with an \
            invalid config file or no usable kubeconfig (a restart cannot fix it: the unit stops instead of restarting).
            """,
        version: IpsyncdVersion.string,
        subcommands: [RunCommand.self, SyncCommand.self, StatusCommand.self, CheckCommand.self, RenderCommand.self,
                      SettingsDocsCommand.self])

    /// The daemon's peak resident memory is the largest of its start-up stages, not their sum: the pages the
    /// loader and the runtime touched before `main` are released before the arguments are parsed.
    static func main() async {
        if CommandLine.arguments.dropFirst().first == "run" { ResidentMemory.release(startUp: true) }
        await main(nil)
    }
}
