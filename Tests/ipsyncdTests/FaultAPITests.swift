import Foundation
import Testing
import TestSupport

/// The fault matrix, Kubernetes API side (issue 5, docs/reliability.md): each test injects one fault
/// into a running `ipsyncd run`, changes api-gateway's ClusterIP while it lasts, clears it, and checks
/// that the daemon converged with exactly one reload and that no live file was ever anything but the old
/// or the new version. The bodies block, so they run off the cooperative pool (`blocking`) and in parallel.
@Suite("FaultMatrix: Kubernetes API faults")
struct FaultAPITests {
    @Test("connection reset mid-stream (drop): the watch resumes from its resourceVersion, no relist")
    func connectionReset() async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            let lists = try world.api.stats().lists
            try world.api.fault("drop")
            try world.recreate()
            #expect(world.converges(reloads: 1), "\(daemon.log)")
            #expect(try world.api.stats().lists == lists, "a dropped stream must resume, not relist")
            #expect(daemon.count { $0.contains("watch lost") } == 0, "a broken long-lived stream is routine:\n\(daemon.log)")
            #expect(world.reloadsOK == 1)
            world.finish(daemon, fault: "drop")
        }
    }

    /// The watcher's own idle limit is the watch's timeoutSeconds (5–10 min) plus 30 s, and no flag
    /// shortens it; `resync_interval` is what bounds a stall in production too: it relists and
    /// replaces the stalled watch.
    @Test("stalled watch: the resync interval relists and replaces it")
    func stalledWatch() async throws {
        try await blocking {
            let world = try FaultWorld(settings: ["resync_interval": "2s"])
            let daemon = try world.startDaemon()
            let lists = try world.api.stats().lists
            try world.api.fault("stall")
            try world.recreate()
            #expect(world.converges(reloads: 1, timeout: 15), "\(daemon.log)")
            #expect(try world.api.stats().lists > lists)
            #expect(world.reloadsOK == 1)
            world.finish(daemon, fault: "stall")
        }
    }

    @Test("410 Gone, as an ERROR event and as an HTTP status: relist, then converge", arguments: ["gone-event", "gone-status"])
    func gone(kind: String) async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            let lists = try world.api.stats().lists
            try world.api.fault(kind)
            try world.api.fault("drop")   // the next watch meets the 410
            try world.recreate()
            #expect(world.converges(reloads: 1), "\(daemon.log)")
            #expect(try world.api.stats().lists > lists, "410 must relist")
            #expect(world.reloadsOK == 1)
            #expect(daemon.count { $0.contains("watch lost") } == 0, "a single 410 is routine, not a loss:\n\(daemon.log)")
            world.finish(daemon, fault: kind)
        }
    }

    @Test("429 with Retry-After, then 500s: retried, logged once per kind, converged",
          arguments: [(429, 3), (500, 3)])
    func statusErrors(code: Int, count: Int) async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            try world.api.fault("status", count: count, extra: ["code": code, "retryAfter": 1, "verb": "any"])
            try world.api.fault("drop")
            try world.recreate()
            #expect(world.converges(reloads: 1, timeout: 30), "\(daemon.log)")
            #expect(world.reloadsOK == 1)
            #expect(daemon.count { $0.contains("watch lost") } == 1, "logged once, not once per retry:\n\(daemon.log)")
            #expect(daemon.count { $0.contains("watch restored") } >= 1, "\(daemon.log)")
            world.finish(daemon, fault: "status \(code) ×\(count)")
        }
    }

    @Test("401 after a token rotation: logged once; the rotated tokenFile is read again")
    func tokenRotation() async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            let rotated = "rotated-" + UUID().uuidString
            try world.api.setTokens([rotated])
            try world.api.fault("drop")
            let old = world.current
            try world.recreate()
            // A few retries with the old token (backoff 0.8 s, 1.6 s, …): nothing may change.
            usleep(3_000_000)
            #expect(world.siteText == world.expectedSite(old))
            #expect(daemon.count { $0.contains("watch lost") } == 1, "logged once, not once per retry:\n\(daemon.log)")
            try world.dir.write("token", rotated + "\n")
            #expect(world.converges(reloads: 1, timeout: 30), "\(daemon.log)")
            #expect(!daemon.log.contains(rotated) && !daemon.log.contains(world.api.token), "a token in the log")
            world.finish(daemon, fault: "401 token rotation")
        }
    }

    @Test("malformed watch event: the round fails, a relist converges")
    func malformedEvent() async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            let lists = try world.api.stats().lists
            try world.api.fault("malformed")
            try world.recreate()
            #expect(world.converges(reloads: 1), "\(daemon.log)")
            #expect(try world.api.stats().lists > lists)
            #expect(world.reloadsOK == 1)
            world.finish(daemon, fault: "malformed")
        }
    }

    @Test("TLS certificate from another CA: one clear TLS error; converges once the kubeconfig's CA file is fixed")
    func certificateFromAnotherCA() async throws {
        try await blocking {
            let world = try FaultWorld(relay: true)
            let leaf = try Self.serverCertificate(signedBy: world.api, in: world.dir)
            let daemon = try world.startDaemon()
            try world.restartRelay(tls: leaf)
            let old = world.current
            try world.recreate()
            usleep(3_000_000)
            #expect(world.siteText == world.expectedSite(old))
            // The certificate error itself (its advice names certificate-authority); a reconnect that races the
            // relay's restart may first log a reset during the handshake, a connection error of its own.
            let tlsLines = daemon.lines.filter { $0.contains("watch lost") && $0.contains("certificate-authority") }
            #expect(tlsLines.count == 1, "one TLS error, not one per retry:\n\(daemon.log)")
            // The operator fixes the CA the kubeconfig names (curl reads it at every connect).
            try FileManager.default.removeItem(atPath: world.caFile)
            try FileManager.default.copyItem(atPath: world.api.otherCAPath, toPath: world.caFile)
            #expect(world.converges(reloads: 1, timeout: 30), "\(daemon.log)")
            world.finish(daemon, fault: "TLS certificate from another CA: \(tlsLines.first ?? "none")")
        }
    }

    /// Longer than the 30 s backoff cap: the daemon keeps retrying at the cap (logging once), and the
    /// first attempt after the API is back converges; a change made during the outage is not lost.
    @Test("API server down past the backoff cap: one log line, converges when it is back")
    func apiServerDown() async throws {
        try await blocking {
            let world = try FaultWorld(relay: true)
            let daemon = try world.startDaemon()
            world.stopRelay()
            let old = world.current
            try world.recreate()   // the change happens while ipsyncd cannot see it
            usleep(32_000_000)
            #expect(world.siteText == world.expectedSite(old))
            // Connection errors are logged once over all the retries: refused connections, or first a reset
            // during the TLS handshake when a reconnect races the relay's death (the same kind of error).
            let lost = daemon.lines.filter { $0.contains("watch lost") }
            #expect(lost.count == 1, "logged once, not once per retry:\n\(daemon.log)")
            #expect(lost.allSatisfy { $0.contains("cannot connect") || $0.contains("broke during the TLS handshake") },
                    "\(daemon.log)")
            try world.restartRelay()
            // The next attempt is at most one capped backoff (30 s) away.
            #expect(world.converges(reloads: 1, timeout: 40), "\(daemon.log)")
            #expect(daemon.count { $0.contains("watch restored") } >= 1, "\(daemon.log)")
            world.finish(daemon, fault: "API server down 32 s")
        }
    }

    /// A server certificate for 127.0.0.1 signed by the server's *other* CA, made with openssl.
    static func serverCertificate(signedBy api: TestAPIServer, in dir: TempDir) throws -> (certificate: String, key: String) {
        let openssl = try #require(findExecutable("openssl"))
        let otherKey = (api.otherCAPath as NSString).deletingPathExtension + ".key"
        let key = dir.file("evil.key"), csr = dir.file("evil.csr"), cert = dir.file("evil.crt")
        let ext = try dir.write("evil.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        for arguments in [
            ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", csr, "-CA", api.otherCAPath, "-CAkey", otherKey, "-set_serial", "0x1234",
             "-days", "30", "-out", cert, "-extfile", ext],
        ] {
            let result = try runProcess(openssl, arguments)
            guard result.status == 0 else { throw SandboxError("openssl \(arguments[0]) failed: \(result.stderr)") }
        }
        return (cert, key)
    }
}
