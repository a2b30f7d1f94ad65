import Foundation
import Testing
import TestSupport

import Glibc

/// The fault matrix's crash row (issue 5, docs/reliability.md). The end-to-end crash test kills
/// `ipsyncd run` 50 times; this one kills the one-shot `ipsyncd sync` at 200 random points of its
/// whole run (start, list, stage, check, swap, reload), so the two cover both entry points.
@Suite("FaultMatrix: kill -9 during applies")
struct FaultKillTests {
    static let rounds = Int(ProcessInfo.processInfo.environment["IPSYNCD_FAULT_KILL_ROUNDS"] ?? "") ?? 200

    @Test("kill -9 at 200 random points of `ipsyncd sync`: the live file is always old or new and passes nginx -t")
    func killNineDuringSync() async throws {
        try await blocking {
            let world = try FaultWorld()
            let sides = [world.current, FaultWorld.randomAddress()]
            let sync = ["sync", "--config", world.configPath, "--log-format", "text"]
            // Three syncs that are not killed: the shortest whole run is the span the kills are spread over.
            var span = Double.infinity
            for side in [1, 0, 1] {
                try world.move(to: sides[side])
                let started = Date()
                let clean = try IpsyncdProcess.run(sync)
                span = min(span, Date().timeIntervalSince(started))
                try #require(clean.status == 0, "\(clean.stderr)")
            }
            var outcomes = (old: 0, new: 0, finished: 0)
            for round in 0..<Self.rounds {
                let fileSide = world.siteText == world.expectedSite(sides[0]) ? 0 : 1
                let old = world.expectedSite(sides[fileSide]), new = world.expectedSite(sides[1 - fileSide])
                try world.move(to: sides[1 - fileSide])
                let process = try IpsyncdProcess(sync)
                usleep(UInt32(Double.random(in: 0...span) * 1_000_000))
                if process.waitForExit(timeout: 0) != nil { outcomes.finished += 1 }
                process.kill9()
                let live = world.siteText
                #expect(live == old || live == new, "round \(round): partial file\n\(live)")
                if live == old { outcomes.old += 1 } else if live == new { outcomes.new += 1 }
                #expect(world.liveConfigPasses(), "round \(round): nginx -t fails on the live config")
            }
            // A last sync finishes what a killed one left: the pending reload, the leftovers.
            let last = try IpsyncdProcess.run(sync)
            #expect(last.status == 0, "\(last.stderr)")
            #expect(world.siteText == world.expectedSite(world.current))
            #expect(!FileManager.default.fileExists(atPath: world.stateDir + "/pending-reload"))
            // A non-dry-run `sync` runs the start-up recovery first, so the staged files of killed syncs are gone.
            let afterSync = world.leftovers.count
            #expect(afterSync == 0, "dot files left after the last sync: \(world.leftovers)")
            let daemon = try world.startDaemon()
            world.finish(daemon, fault: "kill -9 sync ×\(Self.rounds) over 0–\(Int(span * 1000)) ms: left old \(outcomes.old)×, "
                         + "new \(outcomes.new)×, sync had already exited \(outcomes.finished)×, "
                         + "dot files left after the last sync \(afterSync)")
        }
    }
}

/// One route (`/api/` → api-gateway, port 9000) between the test API server and a real nginx, for the
/// fault matrix. Every setting is in a config file, so that a test can clear a fault with SIGHUP. The
/// kubeconfig reads its CA and its token from files of the world's own (a test may replace them), and
/// may point at an `APIRelay` instead of the server (a test may stop it or swap its certificate).
/// A sampler reads the live site file every few milliseconds while the world exists: every version it
/// saw must be one the daemon could legitimately have written.
final class FaultWorld: @unchecked Sendable {
    static let servicePort = 9000

    let dir: TempDir
    let api: TestAPIServer
    let nginx: NginxSandbox
    private(set) var relay: APIRelay?
    /// Every address api-gateway has had, in order; the last is the current one.
    private(set) var addresses: [String]
    /// Config keys over the defaults below (values are written as YAML single-quoted strings).
    var settings: [String: String] = [:]
    private let sampler = SiteSampler()

    var configPath: String { dir.file("ipsyncd.yaml") }
    var kubeconfigPath: String { dir.file("kubeconfig.yaml") }
    var caFile: String { dir.file("ca.crt") }
    var tokenFile: String { dir.file("token") }
    var stateDir: String { dir.file("state") }
    var metricsPath: String { dir.file("metrics.prom") }
    var current: String { addresses.last! }

    init(relay useRelay: Bool = false, settings: [String: String] = [:]) throws {
        dir = try TempDir("ipsyncd-fault")
        let first = Self.randomAddress()
        addresses = [first]
        api = try TestAPIServer(services: [ServiceSpec("api-gateway", clusterIP: Self.host(first),
                                                       ports: [.init(name: "http", port: Self.servicePort)])])
        nginx = try NginxSandbox(site: { Self.site(listen: $0, address: first) }, label: "ipsyncd-fault-nginx")
        try nginx.start()
        try FileManager.default.copyItem(atPath: api.caPath, toPath: caFile)
        try dir.write("token", api.token + "\n")
        if useRelay { relay = try APIRelay(upstreamPort: api.port) }
        self.settings = settings
        try writeKubeconfig()
        try writeConfig()
        sampler.start(path: nginx.siteTarget)
    }

    deinit {
        sampler.stop()
        relay?.stop()
        nginx.stop()
        api.stop()
    }

    static func site(listen: String, address: String) -> String {
        """
        # flowmaster (fault matrix)
        server {
            listen \(listen);
            location /api/ {
                proxy_pass http://\(address);
            }
        }

        """
    }

    /// 10.X.Y.Z:9000: nginx never connects to it, `nginx -t` and a reload accept it.
    static func randomAddress() -> String {
        "10.\(Int.random(in: 0...255)).\(Int.random(in: 0...255)).\(Int.random(in: 1...254)):\(servicePort)"
    }

    static func host(_ address: String) -> String { String(address.split(separator: ":")[0]) }

    // MARK: Files

    func writeKubeconfig() throws {
        let server = relay.map { "https://127.0.0.1:\($0.port)" } ?? api.url
        try dir.write("kubeconfig.yaml", """
            apiVersion: v1
            kind: Config
            clusters:
            - name: test
              cluster:
                server: \(server)
                certificate-authority: \(caFile)
            users:
            - name: test-user
              user:
                tokenFile: \(tokenFile)
            contexts:
            - name: test
              context:
                cluster: test
                user: test-user
                namespace: flowmaster
            current-context: test

            """)
    }

    func writeConfig() throws {
        var values = [
            "kubeconfig": kubeconfigPath, "namespace": "flowmaster", "site": nginx.sitePath,
            "nginx_conf": nginx.confPath, "check_command": nginx.checkCommand, "reload_command": nginx.reloadCommand,
            "settle": "50ms", "min_reload_interval": "100ms", "command_timeout": "10s", "state_dir": stateDir,
            "metrics_file": metricsPath,
        ]
        values.merge(settings) { $1 }
        var text = "routes:\n  - location: /api/\n    service: api-gateway\n"
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            text += "\(key): '\(value.replacingOccurrences(of: "'", with: "''"))'\n"
        }
        try dir.write("ipsyncd.yaml", text)
    }

    var siteText: String { (try? String(contentsOfFile: nginx.siteTarget, encoding: .utf8)) ?? "" }

    /// The site's text for `address`, as the daemon must write it.
    func expectedSite(_ address: String) -> String { Self.site(listen: nginx.listen, address: address) }

    /// Every version the sampler saw that is not the site for one of `addresses`.
    var unexpectedVersions: [String] {
        let allowed = Set(addresses.map(expectedSite))
        return sampler.versions.filter { !allowed.contains($0) }
    }

    /// `nginx -t` on the live configuration.
    func liveConfigPasses() -> Bool {
        (try? runProcess(nginx.nginx, ["-t", "-q", "-p", nginx.prefix + "/", "-c", nginx.confPath]))?.status == 0
    }

    /// Dot files (staged candidates, temporaries) left beside the site or the main config.
    var leftovers: [String] {
        [nginx.prefix, nginx.dir.file("sites-available"), nginx.dir.file("sites-enabled")].flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(".") }
        }
    }

    // MARK: Metrics

    /// `ipsyncd_reloads_total{result="ok"}` (0 before the first metrics write).
    var reloadsOK: Int { metric("ipsyncd_reloads_total{result=\"ok\"}") }

    func metric(_ sample: String) -> Int {
        let text = (try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(sample + " ") }
        return line.flatMap { Int(Double($0.split(separator: " ").last ?? "") ?? -1) } ?? 0
    }

    // MARK: The daemon and the API

    /// `ipsyncd run`, once it logged its first resync and its watch is open.
    func startDaemon() throws -> IpsyncdProcess {
        let daemon = try IpsyncdProcess(["run", "--config", configPath, "--log-format", "text"])
        guard daemon.waitForLine(where: { $0.contains("resync") }) != nil,
              eventuallyBlocking(timeout: .seconds(10), { ((try? self.api.stats())?.openWatches ?? 0) >= 1 }) else {
            daemon.stop()
            throw SandboxError("ipsyncd run did not resync and watch within 20 s:\n\(daemon.log)")
        }
        // A watch that breaks within 1 s of opening with no event counts as a failed round (client-go's
        // "very short watch"): let it age, so that a fault hits a watch as it would in production.
        usleep(1_200_000)
        return daemon
    }

    /// Recreates api-gateway (DELETED, ADDED) at a new address; returns it.
    @discardableResult
    func recreate() throws -> String {
        let next = Self.randomAddress()
        try api.recreate("api-gateway", clusterIP: Self.host(next))
        addresses.append(next)
        return next
    }

    /// Points api-gateway at `address` in place (MODIFIED).
    func move(to address: String) throws {
        try api.update("api-gateway", clusterIP: Self.host(address))
        addresses.append(address)
    }

    /// Whether the live file names the current address and `reloads` reloads succeeded, within `timeout` s.
    func converges(reloads: Int, timeout: Double = 20) -> Bool {
        eventuallyBlocking(timeout: .seconds(timeout)) { self.siteText == self.expectedSite(self.current) && self.reloadsOK >= reloads }
    }

    /// Stops the relay and starts it again on the same port; `tls` as in `APIRelay`.
    func restartRelay(tls: (certificate: String, key: String)? = nil) throws {
        guard let old = relay else { throw SandboxError("this world has no relay") }
        old.stop()
        relay = try APIRelay(port: old.port, upstreamPort: api.port, tls: tls)
    }

    func stopRelay() { relay?.stop() }

    /// SIGTERM (exit 0 expected), then what must hold after every fault: no version but old or new
    /// was ever live, the live config passes `nginx -t`, nothing is left behind. Prints one matrix row.
    func finish(_ daemon: IpsyncdProcess, fault: String, sourceLocation: SourceLocation = #_sourceLocation) {
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0, "\(daemon.log)", sourceLocation: sourceLocation)
        sampler.stop()
        #expect(unexpectedVersions.isEmpty, "a live site file that is neither old nor new: \(unexpectedVersions)",
                sourceLocation: sourceLocation)
        #expect(liveConfigPasses(), "nginx -t fails on the live config", sourceLocation: sourceLocation)
        #expect(leftovers.isEmpty, "leftovers: \(leftovers)", sourceLocation: sourceLocation)
        let lost = daemon.count { $0.contains("watch lost") }
        print("fault-matrix | \(fault) | reloads ok \(reloadsOK) | versions seen \(sampler.versions.count)"
              + " | 'watch lost' lines \(lost) | reconnects \(metric("ipsyncd_watch_reconnects_total"))")
    }

    /// Whether this machine lets root mount a tmpfs (not in every container).
    static let canMountTmpfs: Bool = {
        guard geteuid() == 0, let dir = try? TempDir("ipsyncd-tmpfs-probe") else { return false }
        guard let mounted = try? runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", dir.path]),
              mounted.status == 0 else { return false }
        _ = try? runProcess("/bin/umount", [dir.path])
        return true
    }()
}

/// Reads a file every 5 ms on a thread of its own and keeps each distinct content it saw (a read
/// that fails, the file missing, is not a version).
final class SiteSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<String> = []
    private var running = false
    private var done: DispatchSemaphore?

    func start(path: String) {
        let done = DispatchSemaphore(value: 0)
        lock.withLock { running = true; self.done = done }
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                if let data = FileManager.default.contents(atPath: path) {
                    let text = String(decoding: data, as: UTF8.self)
                    lock.withLock { _ = seen.insert(text) }
                }
                usleep(5_000)
            }
            done.signal()
        }
    }

    func stop() {
        let done = lock.withLock { () -> DispatchSemaphore? in
            defer { running = false; self.done = nil }
            return running ? self.done : nil
        }
        done?.wait()
    }

    var versions: [String] { lock.withLock { Array(seen) } }
}
