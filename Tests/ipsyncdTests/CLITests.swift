import Foundation
import Testing
import TestSupport

/// The built `ipsyncd` binary, beside the test bundle (or under the repository's .build/debug).
private let binary: String = {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ipsyncd").path
    if FileManager.default.isExecutableFile(atPath: beside) { return beside }
    return repositoryRoot.appendingPathComponent(".build/debug/ipsyncd").path
}()

/// Runs ipsyncd with a clean environment (no KUBECONFIG, a HOME without ~/.kube) and no default config file.
private func ipsyncd(_ arguments: [String], home: String = "/nonexistent") throws -> ProcessResult {
    try runProcess(binary, arguments, environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": home])
}

@Suite struct CLITests {
    @Test func helpListsTheCommandsAndExitCodes() async throws {
        try await blocking {
            let result = try ipsyncd(["--help"])
            #expect(result.status == 0)
            let help = result.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
            for word in ["run", "sync", "status", "check", "render", "Exit codes", "64 a usage error", "config file"] {
                #expect(help.contains(word), "\(word)")
            }
        }
    }

    @Test func everyOptionsHelpNamesItsConfigKeyAndDefault() async throws {
        try await blocking {
            let result = try ipsyncd(["sync", "--help"])
            #expect(result.status == 0)
            let help = result.stdout.replacingOccurrences(of: "\n", with: " ").split(separator: " ").joined(separator: " ")
            for text in ["--dry-run", "config key `settle`; default: 50ms", "config key `routes`; default: /=frontend-nextjs /api/=api-gateway /ws/=websocket-gateway",
                         "config key `namespace`; default: flowmaster", "config key `check_command`; default: nginx -t -c {config}",
                         "config key `metrics_file`; default: none", "config key `log_format`; default: auto",
                         "config key `state_dir`; default: /var/lib/ipsyncd"] {
                #expect(help.contains(text), "\(text)")
            }
        }
    }

    @Test func versionPrints() async throws {
        try await blocking {
            let result = try ipsyncd(["--version"])
            #expect(result.status == 0 && result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        }
    }

    @Test func aUsageErrorExits64() async throws {
        try await blocking {
            let result = try ipsyncd(["sync", "--no-such-flag"])
            #expect(result.status == 64)
            #expect(result.stderr.contains("Unknown option '--no-such-flag'"))
        }
    }

    @Test func runExits78OnAConfigErrorThatARestartCannotFix() async throws {
        try await blocking {
            let dir = try TempDir()
            let config = try dir.write("ipsyncd.yaml", "setle: 50ms\n")
            let bad = try ipsyncd(["run", "--config", config])
            #expect(bad.status == 78 && bad.stderr.contains("\(config):1: setle: unknown key"), "\(bad.stderr)")
            let missing = try ipsyncd(["run", "--kubeconfig", dir.file("no-such-kubeconfig"), "--state-dir", dir.file("state"),
                                       "--log-format", "text"])
            #expect(missing.status == 78, "\(missing.stderr)")
            #expect(missing.stderr.contains("cannot start: "), "\(missing.stderr)")
        }
    }

    /// A bad flag value is a usage error (64, like an unknown flag) in every command; a bad config file is not.
    /// Before the settings table, `sync --settle=-1s` and `status --route /api/` exited 1.
    @Test func aBadFlagValueExits64NamingTheFlagAndABadFileExits1() async throws {
        try await blocking {
            let result = try ipsyncd(["sync", "--dry-run", "--settle", "5x"])
            #expect(result.status == 64)
            #expect(result.stderr.contains("command line: --settle: \"5x\" is not a duration"))
            for arguments in [["sync", "--settle=-1s"], ["status", "--route", "/api/"], ["run", "--settle", "-1s"],
                              ["check", "--resync-interval", "1ms"], ["render", "--template", "/t", "--settle", "1000000h"],
                              ["sync", "--dry-run", "--settle", "1000h"]] {
                let bad = try ipsyncd(arguments)
                #expect(bad.status == 64, "\(arguments): \(bad.stderr)")
            }
            let tooLarge = try ipsyncd(["sync", "--dry-run", "--settle=1000000h"])
            #expect(tooLarge.stderr.contains("--settle: \"1000000h\" is too large; allowed: 0 to 10s"), "\(tooLarge.stderr)")
            let file = try TempDir()
            let config = try file.write("ipsyncd.yaml", "setle: 50ms\n")
            let bad = try ipsyncd(["status", "--config", config])
            #expect(bad.status == 1 && bad.stderr.contains("\(config):1: setle: unknown key"))
        }
    }

    // MARK: against the test API server

    /// A site (the flowmaster fixture), a main config that includes it, and the test API server.
    private struct Setup {
        let server: TestAPIServer
        let dir: TempDir
        let site: String
        var arguments: [String]

        init(apiGateway: String) throws {
            server = try TestAPIServer(services: [
                ServiceSpec("frontend-nextjs", clusterIP: "10.43.0.10", ports: [.init(name: "http", port: 3000, targetPort: 3001)]),
                ServiceSpec("api-gateway", clusterIP: apiGateway, ports: [.init(name: "http", port: 9000, targetPort: 8080)]),
                ServiceSpec("websocket-gateway", clusterIP: "10.43.0.14", ports: [.init(port: 8080)]),
            ])
            dir = try TempDir("ipsyncd-cli")
            site = try dir.write("sites-enabled/flowmaster", try readBytes(fixturePath("config/flowmaster.conf")))
            let conf = try dir.write("nginx.conf", "events {}\nhttp { include \(dir.path)/sites-enabled/*; }\n")
            arguments = ["--kubeconfig", server.kubeconfigCert, "--site", site, "--nginx-conf", conf,
                         "--state-dir", dir.file("state"), "--log-format", "text",
                         "--check-command", "false", "--reload-command", "false"]
        }
    }

    @Test func syncDryRunExits2WithTheDiffThen0WhenInSync() async throws {
        try await blocking {
            let setup = try Setup(apiGateway: "10.43.7.3")
            let before = try readBytes(setup.site)
            let pending = try ipsyncd(["sync", "--dry-run"] + setup.arguments)
            #expect(pending.status == 2, "\(pending.stderr)")
            #expect(pending.stdout.contains("-        proxy_pass http://10.43.0.12:9000;\n+        proxy_pass http://10.43.7.3:9000;"))
            #expect(pending.stdout.contains("-    server 10.43.0.12:9000 max_fails=3"))
            #expect(try readBytes(setup.site) == before)

            try setup.server.update("api-gateway", clusterIP: "10.43.0.12")
            let clean = try ipsyncd(["sync", "--dry-run"] + setup.arguments)
            #expect(clean.status == 0 && clean.stdout.isEmpty, "\(clean.stderr)")
            let sync = try ipsyncd(["sync"] + setup.arguments)
            #expect(sync.status == 0, "\(sync.stderr)")
        }
    }

    @Test func statusExitCodesFollowTheLiveAddresses() async throws {
        try await blocking {
            let setup = try Setup(apiGateway: "10.43.7.3")
            let stale = try ipsyncd(["status"] + setup.arguments)
            #expect(stale.status == 1)
            #expect(stale.stdout.contains("/api/     api-gateway        10.43.7.3:9000   10.43.0.12:9000  NO"))
            try setup.server.update("api-gateway", clusterIP: "10.43.0.12")
            let fresh = try ipsyncd(["status", "--json"] + setup.arguments)
            #expect(fresh.status == 0, "\(fresh.stdout)\(fresh.stderr)")
            #expect(fresh.stdout.contains("\"in_sync\" : true"))
        }
    }

    @Test func checkExitCodes() async throws {
        try await blocking {
            let setup = try Setup(apiGateway: "10.43.0.12")
            let good = try ipsyncd(["check"] + setup.arguments)
            #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
            #expect(good.stdout.contains("ok    kubernetes: ") && good.stdout.contains("list and watch"))
            let bad = try ipsyncd(["check", "--route", "/nowhere/=api-gateway"] + setup.arguments)
            #expect(bad.status == 1 && bad.stdout.contains("FAIL  route /nowhere/"))
            setup.server.stop()
            let down = try ipsyncd(["check"] + setup.arguments)
            #expect(down.status == 1 && down.stdout.contains("FAIL  kubernetes: "))
            let status = try ipsyncd(["status"] + setup.arguments)
            #expect(status.status == 1 && status.stderr.contains("cannot read the Services"))
        }
    }

    @Test func runDryRunLogsTheChangeWritesNothingAndStopsOnSIGTERM() async throws {
        try await blocking {
            let setup = try Setup(apiGateway: "10.43.7.3")
            let before = try readBytes(setup.site)
            let log = setup.dir.file("run.log")
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["run", "--dry-run"] + setup.arguments
            process.environment = ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/nonexistent"]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: log)
            try process.run()
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
            var text = ""
            for _ in 0..<300 where !text.contains("would change") {
                usleep(50_000)
                text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            }
            #expect(text.contains("would change /api/ api-gateway 10.43.0.12:9000 → 10.43.7.3:9000"), "\(text)")
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            #expect(try readBytes(setup.site) == before)
        }
    }

    @Test func syncAppliesToARealNginxThenStatusIsInSync() async throws {
        try await blocking {
            let server = try TestAPIServer(services: [
                ServiceSpec("frontend-nextjs", clusterIP: "127.0.0.2", ports: [.init(name: "http", port: 8080, targetPort: 3000)]),
            ])
            let sandbox = try NginxSandbox(site: { NginxSandbox.proxySite(listen: $0, backend: "127.0.0.1:1") })
            try sandbox.start()
            defer { sandbox.stop() }
            let arguments = ["--kubeconfig", server.kubeconfigCert, "--route", "/=frontend-nextjs", "--site", sandbox.sitePath,
                             "--nginx-conf", sandbox.confPath, "--check-command", sandbox.checkCommand,
                             "--reload-command", sandbox.reloadCommand, "--state-dir", sandbox.dir.file("state"),
                             "--log-format", "text"]
            let before = try ipsyncd(["status"] + arguments)
            #expect(before.status == 1)
            let sync = try ipsyncd(["sync"] + arguments)
            #expect(sync.status == 0, "\(sync.stderr)")
            #expect(sync.stderr.contains("/ frontend-nextjs 127.0.0.1:1 → 127.0.0.2:8080"), "\(sync.stderr)")
            #expect(try String(contentsOfFile: sandbox.siteTarget, encoding: .utf8).contains("proxy_pass http://127.0.0.2:8080;"))
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: sandbox.sitePath) == "../sites-available/flowmaster")
            let after = try ipsyncd(["status"] + arguments)
            #expect(after.status == 0, "\(after.stdout)")
            let again = try ipsyncd(["sync"] + arguments)
            #expect(again.status == 0 && again.stderr.contains("in sync"), "\(again.stderr)")
        }
    }
}
