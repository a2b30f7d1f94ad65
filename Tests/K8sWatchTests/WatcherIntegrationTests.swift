import Foundation
import InMemoryLogging
import Logging
import Testing
import TestSupport
@testable import K8sWatch

/// The watcher against the real test API server, over HTTPS, with the real libcurl client.
@Suite struct WatcherIntegrationTests {
    enum Auth: String, CaseIterable { case clientCertificate, token }

    /// A server holding `api-gateway` (watched) and `postgres` (not), and a watcher on it whose
    /// backoff is shrunk so that retries take milliseconds.
    struct Rig {
        let server: TestAPIServer
        let watcher: ServiceWatcher
        let logs = InMemoryLogHandler()
        let delays = DelayRecorder()
        let run: Task<Void, Never>

        init(auth: Auth = .clientCertificate, configure: (inout WatchTiming) -> Void = { _ in }) async throws {
            server = try await blocking { try TestAPIServer(services: [
                ServiceSpec("api-gateway", clusterIP: "10.43.0.12", ports: [.init(name: "http", port: 9000)]),
                ServiceSpec("postgres", clusterIP: "None", ports: [.init(name: "pg", port: 5432)]),
            ]) }
            let path = auth == .clientCertificate ? server.kubeconfigCert : server.kubeconfigToken
            let client = APIClient(credentials: try KubeConfigLoader.load(path: path, context: nil, environment: [:]))
            var timing = WatchTiming()
            timing.backoff = Backoff(initial: .milliseconds(20), cap: .milliseconds(100))
            let delays = self.delays
            timing.sleep = { delay in
                delays.record(delay)
                try await Task.sleep(for: delay)
            }
            configure(&timing)
            watcher = ServiceWatcher(api: client, namespace: "flowmaster", names: ["api-gateway", "web"],
                                     logger: logs.logger, timing: timing)
            let watcher = self.watcher
            run = Task { await watcher.run() }
        }

        /// Waits until the watcher has a watch open on the server.
        func watching() async {
            #expect(await eventually { (try? server.stats().openWatches) == 1 }, "an open watch")
        }

        func stop() async {
            run.cancel()
            await run.value
            server.stop()
        }
    }

    /// The next snapshot that satisfies `condition` (earlier ones are skipped).
    static func snapshot(_ iterator: inout AsyncStream<ServiceSnapshot>.Iterator,
                         where condition: (ServiceSnapshot) -> Bool) async -> ServiceSnapshot? {
        while let next = await iterator.next() {
            if condition(next) { return next }
        }
        return nil
    }

    @Test(arguments: Auth.allCases)
    func firstSnapshotHasTheWatchedServices(auth: Auth) async throws {
        let rig = try await Rig(auth: auth)
        var snapshots = rig.watcher.snapshots.makeAsyncIterator()
        let first = try #require(await snapshots.next())
        #expect(first.services.keys.sorted() == ["api-gateway"])
        #expect(first.services["api-gateway"] == ServiceInfo(
            name: "api-gateway", type: "ClusterIP", clusterIP: "10.43.0.12", clusterIPs: ["10.43.0.12"],
            ports: [ServicePort(name: "http", port: 9000, protocolName: "TCP")]))
        #expect(first.resourceVersion == (try rig.server.stats().resourceVersion))
        await rig.stop()
    }

    @Test(arguments: Auth.allCases)
    func recreateIsSeenAsAbsenceThenTheNewAddress(auth: Auth) async throws {
        let rig = try await Rig(auth: auth)
        var snapshots = rig.watcher.snapshots.makeAsyncIterator()
        _ = await snapshots.next()
        await rig.watching()
        let added = try rig.server.recreate("api-gateway", clusterIP: "10.43.7.3", gapMs: 100)
        var seen: [ServiceSnapshot] = []
        while let next = await snapshots.next() {
            seen.append(next)
            if next.services["api-gateway"]?.clusterIP == "10.43.7.3" { break }
        }
        #expect(seen.last?.resourceVersion == added.resourceVersion)
        // Between the old and the new address there is at most a snapshot without the Service.
        #expect(seen.dropLast().allSatisfy { $0.services["api-gateway"] == nil })
        #expect(try rig.server.stats().lists == 1)
        await rig.stop()
    }

    @Test func droppedConnectionResumesFromTheLastVersionWithoutRelist() async throws {
        let rig = try await Rig()
        var snapshots = rig.watcher.snapshots.makeAsyncIterator()
        _ = await snapshots.next()
        await rig.watching()
        let first = try rig.server.update("api-gateway", clusterIP: "10.43.0.13")
        _ = await Self.snapshot(&snapshots) { $0.resourceVersion == first.resourceVersion }
        try rig.server.fault("drop")
        #expect(await eventually { (try? rig.server.stats().watches) == 2 }, "a second watch")
        let second = try rig.server.update("api-gateway", clusterIP: "10.43.0.14")
        let latest = await Self.snapshot(&snapshots) { $0.resourceVersion == second.resourceVersion }
        #expect(latest?.services["api-gateway"]?.clusterIP == "10.43.0.14")
        let stats = try rig.server.stats()
        #expect(stats.lists == 1)
        #expect(stats.requests.contains { $0.contains("watch=true") && $0.contains("resourceVersion=\(first.resourceVersion)&") })
        await rig.stop()
    }

    @Test(arguments: ["gone-event", "gone-status"])
    func goneRelistsExactlyOnce(fault: String) async throws {
        let rig = try await Rig()
        var snapshots = rig.watcher.snapshots.makeAsyncIterator()
        _ = await snapshots.next()
        await rig.watching()
        try rig.server.fault(fault)
        try rig.server.fault("drop")   // the next watch meets the fault
        #expect(await eventually {
            guard let stats = try? rig.server.stats() else { return false }
            return stats.lists == 2 && stats.openWatches == 1
        }, "a relist and a new watch")
        let changed = try rig.server.update("api-gateway", clusterIP: "10.43.9.9")
        let latest = await Self.snapshot(&snapshots) { $0.resourceVersion == changed.resourceVersion }
        #expect(latest?.services["api-gateway"]?.clusterIP == "10.43.9.9")
        #expect(try rig.server.stats().lists == 2)
        await rig.stop()
    }

    @Test func bookmarksMoveTheResourceVersion() async throws {
        let rig = try await Rig()
        var snapshots = rig.watcher.snapshots.makeAsyncIterator()
        _ = await snapshots.next()
        await rig.watching()
        // This server's bookmarks carry its current version, which the watch already knows; the
        // scripted tests show a bookmark moving it. Here: bookmarks arrive, count as life, publish nothing.
        try rig.server.setBookmarkInterval(ms: 50)
        let before = await rig.watcher.health.lastEventAt
        #expect(await eventually { await rig.watcher.health.lastEventAt != before }, "a bookmark")
        let version = try rig.server.stats().resourceVersion
        try rig.server.fault("drop")
        #expect(await eventually {
            (try? rig.server.stats().requests.contains { $0.contains("watch=true") && $0.contains("resourceVersion=\(version)&") }) == true
        }, "a watch from the bookmark's version")
        #expect(await rig.watcher.health.snapshots == 1)
        #expect(try rig.server.stats().lists == 1)
        await rig.stop()
    }

    @Test func tooManyRequestsWaitsRetryAfter() async throws {
        let rig = try await Rig()
        var snapshots = rig.watcher.snapshots.makeAsyncIterator()
        _ = await snapshots.next()
        await rig.watching()
        try rig.server.fault("status", extra: ["code": 429, "retryAfter": 1, "verb": "watch"])
        try rig.server.fault("drop")
        #expect(await eventually { (try? rig.server.stats().watches) == 3 }, "a watch after the 429")
        #expect(rig.delays.all.contains(.seconds(1)))
        #expect(try rig.server.stats().lists == 1)
        await rig.stop()
    }

    @Test func stalledWatchIsDetectedAndReconnected() async throws {
        let rig = try await Rig { timing in
            timing.watchTimeoutSeconds = 1..<2
            timing.idleGrace = .milliseconds(500)
            timing.shortWatch = .milliseconds(100)
        }
        var snapshots = rig.watcher.snapshots.makeAsyncIterator()
        _ = await snapshots.next()
        await rig.watching()
        // Watches end every second or two here; a stall sent between two of them is retried.
        for _ in 0..<3 where (try rig.server.stats().lists) < 2 {
            await rig.watching()
            try rig.server.fault("stall")
            let deadline = ContinuousClock.now + .seconds(5)
            while (try rig.server.stats().lists) < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(try rig.server.stats().lists == 2)
        let warning = rig.logs.messages(.warning).first ?? ""
        #expect(warning.hasPrefix("watch lost: ") && warning.contains("stalled"), "\(warning)")
        let changed = try rig.server.update("api-gateway", clusterIP: "10.43.1.1")
        #expect(await Self.snapshot(&snapshots) { $0.resourceVersion == changed.resourceVersion } != nil)
        await rig.stop()
    }

    @Test func rejectedTokenIsReportedInHealth() async throws {
        let rig = try await Rig(auth: .token)
        var snapshots = rig.watcher.snapshots.makeAsyncIterator()
        _ = await snapshots.next()
        await rig.watching()
        try rig.server.setTokens(["rotated-token"])
        try rig.server.fault("drop")
        #expect(await eventually { await rig.watcher.health.lastError?.code == .unauthorized }, "an unauthorized error")
        let health = await rig.watcher.health
        #expect(health.connected == false)
        #expect(health.lastError?.message.contains("401") == true)
        #expect(rig.logs.messages(.warning).filter { $0.contains("401") }.count == 1)
        await rig.stop()
    }

    @Test func oneShotsAgainstTheServer() async throws {
        let server = try await blocking { try TestAPIServer(services: [ServiceSpec("api-gateway", clusterIP: "10.43.0.12")]) }
        let source = try KubernetesSource.load(kubeconfig: server.kubeconfigCert, context: nil, environment: [:],
                                               namespace: "flowmaster", names: ["api-gateway"])
        let snapshot = try await source.snapshot()
        #expect(snapshot.services["api-gateway"]?.clusterIP == "10.43.0.12")
        try await source.probeAccess()
        try server.fault("status", extra: ["code": 403, "verb": "watch"])
        let error = await #expect(throws: K8sError.self) { try await source.probeAccess() }
        #expect(error?.code == .forbidden)
        #expect(error?.message.hasPrefix("cannot watch services in namespace flowmaster: ") == true)
        server.stop()
    }
}
