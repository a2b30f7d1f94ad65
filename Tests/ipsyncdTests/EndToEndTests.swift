import Foundation
import Testing
import TestSupport

/// The flowmaster setup on loopback, for end-to-end tests that drive only the `ipsyncd` binary: the
/// test API server with the three Services, a backend at each ClusterIP (a 127.x address), and a
/// real nginx whose site file proxies `/`, `/api/` and `/ws/` to them. Everything is a child of the
/// test process, on ephemeral ports, in temp dirs.
final class Flowmaster: @unchecked Sendable {
    /// (service, location, request path).
    static let routes = [("frontend-nextjs", "/", "/"), ("api-gateway", "/api/", "/api/users"),
                         ("websocket-gateway", "/ws/", "/ws/chat")]

    let dir: TempDir
    let api: TestAPIServer
    let nginx: NginxSandbox
    private(set) var backends: [String: Backend] = [:]
    private var retired: [Backend] = []
    var checkCommand: String
    var reloadCommand: String
    var settle = "50ms"
    var minReloadInterval = "100ms"
    var commandTimeout = "10s"
    var configPath: String { dir.file("ipsyncd.yaml") }
    var stateDir: String { dir.file("state") }
    var metricsPath: String { dir.file("metrics.prom") }

    /// `apiPorts`: more ports of api-gateway besides `http` (the route then names `http`).
    init(apiPorts: [ServicePortSpec] = []) throws {
        dir = try TempDir("ipsyncd-e2e")
        for (service, _, _) in Self.routes { backends[service] = try Backend(name: "\(service)-1") }
        let initial = backends
        api = try TestAPIServer(services: Self.routes.map { service, _, _ in
            ServiceSpec(service, clusterIP: initial[service]!.host,
                        ports: [.init(name: "http", port: initial[service]!.port)] + (service == "api-gateway" ? apiPorts : []))
        })
        nginx = try NginxSandbox(site: { listen in Self.site(listen: listen, addresses: initial.mapValues(\.address)) },
                                 label: "ipsyncd-e2e-nginx")
        try nginx.start()
        checkCommand = nginx.checkCommand
        reloadCommand = nginx.reloadCommand
        try writeConfig(apiPort: apiPorts.isEmpty ? nil : "http")
    }

    static func site(listen: String, addresses: [String: String]) -> String {
        """
        # flowmaster (end-to-end test)
        server {
            listen \(listen);
            server_name _;

            location / {
                proxy_pass http://\(addresses["frontend-nextjs"]!);
            }

            location /api/ {
                proxy_pass http://\(addresses["api-gateway"]!);
            }

            location /ws/ {
                proxy_pass http://\(addresses["websocket-gateway"]!);
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection "upgrade";
            }
        }

        """
    }

    /// The config file: the three routes (api-gateway's port by name when given), namespace flowmaster.
    func writeConfig(apiPort: String?) throws {
        var text = "namespace: flowmaster\nroutes:\n"
        for (service, location, _) in Self.routes {
            text += "  - location: \(location)\n    service: \(service)\n"
            if service == "api-gateway", let apiPort { text += "    port: \(apiPort)\n" }
        }
        try dir.write("ipsyncd.yaml", text)
    }

    /// The flags every command gets (the config file holds the routes).
    var flags: [String] {
        ["--config", configPath, "--kubeconfig", api.kubeconfigCert, "--site", nginx.sitePath,
         "--nginx-conf", nginx.confPath, "--state-dir", stateDir, "--check-command", checkCommand,
         "--reload-command", reloadCommand, "--settle", settle, "--min-reload-interval", minReloadInterval,
         "--command-timeout", commandTimeout, "--metrics-file", metricsPath, "--log-format", "text"]
    }

    /// `ipsyncd run`, once its first resync is logged.
    func startDaemon(_ more: [String] = []) throws -> IpsyncdProcess {
        let daemon = try IpsyncdProcess(["run"] + flags + more)
        guard daemon.waitForLine(where: isResyncLine) != nil else {
            daemon.stop()
            throw SandboxError("ipsyncd run logged no resync within 20 s:\n\(daemon.log)")
        }
        return daemon
    }

    /// A one-shot command (`sync`, `status`, `check`).
    func command(_ name: String, _ more: [String] = []) throws -> IpsyncdProcess.Result {
        try IpsyncdProcess.run([name] + flags + more)
    }

    /// Deletes and creates `service` again with a new backend's host as its ClusterIP (same port).
    @discardableResult
    func recreate(_ service: String, as name: String, gapMs: Int = 0) throws -> Backend {
        let next = try Backend(name: name, port: backends[service]!.port)
        try api.recreate(service, clusterIP: next.host, gapMs: gapMs)
        retire(service, next)
        return next
    }

    /// Makes `next` the backend the test expects for `service` (the old one keeps answering).
    func retire(_ service: String, _ next: Backend) {
        if let old = backends[service] { retired.append(old) }
        backends[service] = next
    }

    static func path(_ service: String) -> String { routes.first { $0.0 == service }!.2 }
    static func location(_ service: String) -> String { routes.first { $0.0 == service }!.1 }

    /// Whether a GET through nginx reaches `backend` within `timeout` seconds.
    func traffic(_ service: String, reaches backend: Backend, timeout: Double = 20) -> Bool {
        eventuallyBlocking(timeout: .seconds(timeout)) { (try? self.nginx.get(Self.path(service)))?.body == backend.body }
    }

    var siteBytes: [UInt8] { (try? readBytes(nginx.siteTarget)) ?? [] }

    /// `ipsyncd_reloads_total{result="ok"}` in the metrics file (0 before the first write).
    var reloadsOK: Int { metric("ipsyncd_reloads_total{result=\"ok\"}") }

    func metric(_ sample: String) -> Int {
        let text = (try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(sample + " ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// `nginx -t` on the live configuration.
    func liveConfigPasses() -> Bool {
        (try? runProcess(nginx.nginx, ["-t", "-q", "-p", nginx.prefix + "/", "-c", nginx.confPath]))?.status == 0
    }

    deinit {
        nginx.stop()
        api.stop()
    }
}

/// The resync line of docs/design.md §8, whatever its outcome.
func isResyncLine(_ line: String) -> Bool {
    line.contains("resync:") || line.contains("resync failed") || line.contains("resync (dry run)")
}

@Suite("EndToEnd: traffic follows the Services", .serialized)
struct EndToEndTests {
    @Test("Recreating each of the three Services moves traffic through nginx to the new backend")
    func recreateEachService() async throws {
        try await blocking {
            let world = try Flowmaster()
            let daemon = try world.startDaemon()
            for (service, location, _) in Flowmaster.routes {
                let old = world.backends[service]!
                let next = try world.recreate(service, as: "\(service)-2", gapMs: 50)
                #expect(world.traffic(service, reaches: next), "\(service): traffic did not follow\n\(daemon.log)")
                let change = "\(location) \(service) \(old.address) → \(next.address)"
                #expect(daemon.waitForLine { $0.contains(change) } != nil, "no journal line \(change)\n\(daemon.log)")
            }
            let site = String(decoding: world.siteBytes, as: UTF8.self)
            for (service, _, _) in Flowmaster.routes { #expect(site.contains("http://\(world.backends[service]!.address);")) }
            daemon.signal(SIGTERM)
            #expect(daemon.waitForExit() == 0, "\(daemon.log)")
        }
    }

    @Test("A burst of three recreates of one Service gives exactly one reload, and the last address wins")
    func burstGivesOneReload() async throws {
        try await blocking {
            let world = try Flowmaster()
            // Quiet time long enough that three back-to-back control calls always fall into one burst.
            world.settle = "700ms"
            let daemon = try world.startDaemon()
            let port = world.backends["api-gateway"]!.port
            let next = try (2...4).map { try Backend(name: "api-gateway-\($0)", port: port) }
            for backend in next { try world.api.recreate("api-gateway", clusterIP: backend.host) }
            for backend in next { world.retire("api-gateway", backend) }
            let last = next.last!
            #expect(world.traffic("api-gateway", reaches: last), "\(daemon.log)")
            #expect(eventuallyBlocking { world.reloadsOK >= 1 }, "\(daemon.log)")
            // Room for a second reload, had the burst been split: none may come.
            usleep(1_500_000)
            #expect(world.reloadsOK == 1, "\(daemon.log)")
            let applied = daemon.lines.filter { $0.contains("resync:") && $0.contains("→") }
            #expect(applied.count == 1, "\(daemon.log)")
            #expect(applied.first?.contains("→ \(last.address)") == true)
            daemon.stop()
        }
    }

    @Test("A deleted Service leaves its route alone; created again, it is applied")
    func deletedServiceKeepsRoute() async throws {
        try await blocking {
            let world = try Flowmaster()
            let daemon = try world.startDaemon()
            let before = world.siteBytes
            let old = world.backends["api-gateway"]!
            let mark = daemon.lines.count
            try world.api.delete("api-gateway")
            let kept = daemon.waitForLine(from: mark) { $0.contains("kept /api/") }
            #expect(kept?.contains("api-gateway is absent") == true, "\(daemon.log)")
            #expect(world.siteBytes == before)
            #expect(world.traffic("api-gateway", reaches: old))

            let next = try Backend(name: "api-gateway-2", port: old.port)
            try world.api.create("api-gateway", clusterIP: next.host, ports: [.init(name: "http", port: old.port)])
            world.retire("api-gateway", next)
            #expect(world.traffic("api-gateway", reaches: next), "\(daemon.log)")
            daemon.stop()
        }
    }

    @Test("Bad ClusterIP values never reach the file, and the log says why")
    func badClusterIPsNeverReachTheFile() async throws {
        try await blocking {
            let world = try Flowmaster()
            let daemon = try world.startDaemon()
            let before = world.siteBytes
            let old = world.backends["api-gateway"]!
            for (value, reason) in [("10.0.0.1;", "not an IP address"), ("1.2.3.4 } server {", "not an IP address"),
                                    ("None", "headless")] {
                let mark = daemon.lines.count
                try world.api.update("api-gateway", clusterIP: value)
                let kept = daemon.waitForLine(from: mark) { $0.contains("kept /api/") }
                #expect(kept?.contains(reason) == true, "\(value): \(kept ?? "no kept line")\n\(daemon.log)")
                #expect(world.siteBytes == before, "\(value) changed the file")
            }
            let mark = daemon.lines.count
            try world.api.delete("api-gateway")
            try world.api.create("api-gateway", clusterIP: nil, ports: [.init(name: "http", port: old.port)],
                                 type: "ExternalName", externalName: "db.example.com")
            let kept = daemon.waitForLine(from: mark) { $0.contains("kept /api/") && $0.contains("ExternalName") }
            #expect(kept != nil, "\(daemon.log)")
            #expect(world.siteBytes == before)
            #expect(world.liveConfigPasses())
            #expect(world.traffic("api-gateway", reaches: old))

            // Still alive and well: a good address is applied.
            let next = try Backend(name: "api-gateway-2", port: old.port)
            try world.api.delete("api-gateway")
            try world.api.create("api-gateway", clusterIP: next.host, ports: [.init(name: "http", port: old.port)])
            world.retire("api-gateway", next)
            #expect(world.traffic("api-gateway", reaches: next), "\(daemon.log)")
            daemon.stop()
        }
    }
}
