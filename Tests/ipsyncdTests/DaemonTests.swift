import Foundation
import K8sWatch
import Logging
import Testing
import TestSupport
@testable import IpsyncdCore

/// A daemon over temp files, a scripted snapshot feed and scripted signals (a test must not signal its own
/// process); logs are collected as JSON lines, systemd notifications on a socket the test binds.
final class DaemonHarness: @unchecked Sendable {
    let dir: TempDir
    let lines = LineCollector()
    let notify: DatagramReceiver
    let source = ScriptedSource()
    let signals: AsyncStream<Int32>.Continuation
    let daemon: Daemon
    var relists: Int { source.relists }

    static let site = """
        server {
            listen 127.0.0.1:8080;
            location /api/ {
                proxy_pass http://10.43.0.12:9000;
            }
        }

        """

    init(dryRun: Bool = false, watchdogUsec: Int = 0, stopGrace: Duration = .seconds(1), configure: (inout Settings, TempDir) throws -> Void = { _, _ in },
         feedError: K8sError? = nil) throws {
        dir = try TempDir("ipsyncd-daemon")
        var settings = Settings()
        settings.site = try dir.write("sites-enabled/flowmaster", Self.site)
        settings.nginxConf = try dir.write("nginx.conf", "events {}\nhttp { include \(dir.path)/sites-enabled/*; }\n")
        settings.stateDir = dir.file("state")
        try FileManager.default.createDirectory(atPath: settings.stateDir, withIntermediateDirectories: true)
        settings.routes = [Route(location: "/api/", service: "api-gateway")]
        settings.checkCommand = "true"
        settings.reloadCommand = "true"
        settings.commandTimeout = .seconds(2)
        settings.settle = .milliseconds(20)
        settings.minReloadInterval = .zero
        try configure(&settings, dir)

        notify = try DatagramReceiver(path: dir.file("notify.sock"))
        var environment = ["NOTIFY_SOCKET": notify.path]
        if watchdogUsec > 0 { environment["WATCHDOG_USEC"] = String(watchdogUsec) }
        let (signalStream, signals) = AsyncStream<Int32>.makeStream()
        self.signals = signals
        let handler = JSONLogHandler(level: .debug, output: lines.output)
        let source = self.source
        daemon = Daemon(settings: settings, logger: Logger(label: "test") { _ in handler }, dryRun: dryRun,
                        notifier: SystemdNotifier(environment: environment), signals: .scripted(signalStream),
                        stopGrace: stopGrace) { _ throws(K8sError) in
            if let feedError { throw feedError }
            return source
        }
    }

    var settingsSite: String { dir.file("sites-enabled/flowmaster") }

    /// Log records as JSON objects.
    var records: [[String: Any]] {
        lines.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
    func records(result: String) -> [[String: Any]] { records.filter { $0["ipsyncd_result"] as? String == result } }
    func messages(containing text: String) -> [String] {
        records.compactMap { $0["message"] as? String }.filter { $0.contains(text) }
    }

    /// Every notification until STOPPING=1 (or 15 s of silence).
    func notifications() async -> [String] {
        var all: [String] = []
        while let datagram = await notify.next() {
            let text = String(decoding: datagram, as: UTF8.self)
            all.append(text)
            if text.hasPrefix("STOPPING=1") { break }
        }
        return all
    }
}

func apiSnapshot(_ ip: String, version: String = "1") -> ServiceSnapshot {
    ServiceSnapshot(services: ["api-gateway": ServiceInfo(name: "api-gateway", clusterIP: ip,
                                                          ports: [ServicePort(name: "http", port: 9000)])],
                    resourceVersion: version)
}

@Suite struct DaemonTests {
    @Test func dryRunLogsTheDiffSendsReadyAndWritesNothing() async throws {
        let harness = try DaemonHarness(dryRun: true)
        let before = try readBytes(harness.settingsSite)
        let run = Task { await harness.daemon.run() }
        harness.source.yield(apiSnapshot("10.43.7.3"))
        #expect(await eventually { !harness.records(result: "dry_run").isEmpty })
        let line = try #require(harness.records(result: "dry_run").first)
        let message = try #require(line["message"] as? String)
        #expect(message.hasPrefix("resync (dry run): would change /api/ api-gateway 10.43.0.12:9000 → 10.43.7.3:9000; nothing written\n"))
        #expect(message.contains("+        proxy_pass http://10.43.7.3:9000;"))
        #expect(line["ipsyncd_service"] as? [String] == ["api-gateway"])
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
        #expect(try readBytes(harness.settingsSite) == before)
        let notes = await harness.notifications()
        #expect(notes.first == "STATUS=starting")
        #expect(notes.contains { $0.hasPrefix("READY=1\nSTATUS=resync (dry run): would change /api/") })
        #expect(notes.last == "STOPPING=1\nSTATUS=stopping on SIGTERM")
    }

    @Test func burstOfSnapshotsGivesOneResync() async throws {
        // A settle of 2 s (cap widened to 2 s) makes "three snapshots in a row" one burst on any machine.
        let harness = try DaemonHarness(dryRun: true) { settings, _ in settings.settle = .seconds(2) }
        let run = Task { await harness.daemon.run() }
        harness.source.yield(apiSnapshot("10.43.7.1", version: "1"))
        harness.source.yield(apiSnapshot("10.43.7.2", version: "2"))
        harness.source.yield(apiSnapshot("10.43.7.3", version: "3"))
        #expect(await eventually { !harness.records(result: "dry_run").isEmpty })
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
        let resyncs = harness.records(result: "dry_run")
        #expect(resyncs.count == 1)
        #expect((resyncs.first?["message"] as? String)?.contains("→ 10.43.7.3:9000") == true)
    }

    @Test func failedCheckIsLoggedPerAttemptAndRetriedWithBackoff() async throws {
        let harness = try DaemonHarness { settings, dir in
            let nginx = try dir.write("bin/nginx", """
                #!/bin/sh
                echo "nginx: the configuration file $3 syntax is ok" >&2
                echo "nginx: [emerg] unknown directive \\"bogus\\" in /etc/nginx/sites-enabled/other:3" >&2
                echo "nginx: configuration file $3 test failed" >&2
                exit 1

                """)
            chmod(nginx, 0o755)
            settings.checkCommand = "\(nginx) -t -c {config}"
        }
        let before = try readBytes(harness.settingsSite)
        let run = Task { await harness.daemon.run() }
        harness.source.yield(apiSnapshot("10.43.7.3"))
        #expect(await eventually { harness.records(result: "failed").count >= 2 })
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
        let failures = harness.records(result: "failed").compactMap { $0["message"] as? String }
        let first = try #require(failures.first)
        #expect(first.hasPrefix("resync failed: nginx -t: nginx: [emerg] unknown directive \"bogus\" in /etc/nginx/sites-enabled/other:3"))
        #expect(first.contains("; will retry in "))
        #expect(harness.records(result: "failed").first?["level"] as? String == "error")
        #expect(try readBytes(harness.settingsSite) == before)
        // No READY while nothing has succeeded.
        let notes = await harness.notifications()
        #expect(!notes.contains { $0.hasPrefix("READY=1") })
    }

    @Test func sigtermDuringAHungCheckStillStopsAfterTheGrace() async throws {
        let harness = try DaemonHarness { settings, dir in
            // The check hangs until the test releases it (or its directory is gone), and then fails: however
            // slow the machine, the abandoned apply never swaps the file while the test looks at it.
            let started = dir.file("check-started"), release = dir.file("release")
            let check = try dir.write("bin/check", "#!/bin/sh\ntouch \(started)\n"
                                      + "while [ ! -e \(release) ] && [ -e \(started) ]; do sleep 0.05; done\nexit 1\n")
            chmod(check, 0o755)
            settings.checkCommand = "\(check) {config}"
            settings.commandTimeout = .seconds(120)
        }
        defer { _ = try? harness.dir.write("release", "") }
        let before = try readBytes(harness.settingsSite)
        let run = Task { await harness.daemon.run() }
        harness.source.yield(apiSnapshot("10.43.7.3"))
        #expect(await eventually { FileManager.default.fileExists(atPath: harness.dir.file("check-started")) })
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
        #expect(!harness.messages(containing: "did not finish within 1s; exiting without waiting for it").isEmpty)
        #expect(try readBytes(harness.settingsSite) == before)
        #expect(await harness.notifications().last == "STOPPING=1\nSTATUS=stopping; an apply in progress was abandoned")
    }

    @Test func startFailsWithExitCode78WhenTheKubeconfigIsUnusable() async throws {
        let harness = try DaemonHarness(feedError: K8sError(code: .kubeconfigNotFound, message: "no kubeconfig found"))
        // EX_CONFIG: the unit's RestartPreventExitStatus=78 stops instead of restarting every 2 s for ever.
        #expect(await harness.daemon.run() == 78)
        #expect(!harness.messages(containing: "cannot start: no kubeconfig found").isEmpty)
    }

    @Test func sighupWithAnInvalidConfigKeepsTheRunningSettings() async throws {
        let harness = try DaemonHarness(dryRun: true) { settings, dir in
            let config = try dir.write("ipsyncd.yaml", "settle: 20ms\n")
            var loaded = try Settings.load(configPath: config, overrides: SettingsOverrides())
            loaded.site = settings.site
            loaded.nginxConf = settings.nginxConf
            loaded.stateDir = settings.stateDir
            loaded.routes = settings.routes
            settings = loaded
        }
        let run = Task { await harness.daemon.run() }
        harness.source.yield(apiSnapshot("10.43.7.3"))
        #expect(await eventually { !harness.records(result: "dry_run").isEmpty })
        try harness.dir.write("ipsyncd.yaml", "settle: soon\n")
        harness.signals.yield(SIGHUP)
        #expect(await eventually { !harness.messages(containing: "SIGHUP: config not reloaded").isEmpty })
        let error = try #require(harness.messages(containing: "SIGHUP: config not reloaded").first)
        #expect(error.contains("settle"))
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
    }

    @Test func sighupWithAValidConfigReloadsAndResyncs() async throws {
        let harness = try DaemonHarness(dryRun: true) { settings, dir in
            let site = settings.site, conf = settings.nginxConf, state = settings.stateDir
            let config = try dir.write("ipsyncd.yaml", """
                site: \(site)
                nginx_conf: \(conf)
                state_dir: \(state)
                settle: 20ms
                routes:
                  - location: /api/
                    service: api-gateway

                """)
            settings = try Settings.load(configPath: config, overrides: SettingsOverrides())
        }
        let run = Task { await harness.daemon.run() }
        harness.source.yield(apiSnapshot("10.43.7.3"))
        #expect(await eventually { harness.records(result: "dry_run").count == 1 })
        harness.signals.yield(SIGHUP)
        #expect(await eventually { !harness.messages(containing: "SIGHUP: config reloaded from").isEmpty })
        // The reload resyncs with the snapshot it has.
        #expect(await eventually { harness.records(result: "dry_run").count == 2 })
        harness.signals.yield(SIGINT)
        #expect(await run.value == 0)
    }

    @Test func watchdogPingsWhileIdle() async throws {
        let harness = try DaemonHarness(dryRun: true, watchdogUsec: 100_000)
        let run = Task { await harness.daemon.run() }
        var seen: [String] = []
        while let datagram = await harness.notify.next() {
            seen.append(String(decoding: datagram, as: UTF8.self))
            if seen.filter({ $0 == "WATCHDOG=1" }).count >= 3 { break }
        }
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
        #expect(seen.filter { $0 == "WATCHDOG=1" }.count >= 3)
    }

    @Test func metricsFileIsWrittenAfterEachResync() async throws {
        let harness = try DaemonHarness(dryRun: true) { settings, dir in settings.metricsFile = dir.file("ipsyncd.prom") }
        let run = Task { await harness.daemon.run() }
        harness.source.yield(apiSnapshot("10.43.7.3"))
        let path = harness.dir.file("ipsyncd.prom")
        #expect(await eventually { FileManager.default.fileExists(atPath: path) })
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
        let text = String(decoding: try readBytes(path), as: UTF8.self)
        #expect(text.contains("ipsyncd_resyncs_total{result=\"dry_run\"} 1"))
        #expect(text.contains("ipsyncd_route_in_sync{location=\"/api/\",service=\"api-gateway\"} 0"))
    }
}
