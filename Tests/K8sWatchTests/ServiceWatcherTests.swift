import Foundation
import Logging
import InMemoryLogging
import Testing
import TestSupport
@testable import K8sWatch

@Suite struct ServiceWatcherTests {
    @Test func listThenWatchPublishesSnapshots() async throws {
        let h = Harness(names: ["api", "web"], lists: [.body(K8sJSON.list(rv: "10", [("api", "10.0.0.1"), ("db", "10.0.0.9")]))],
                        watches: [.lines([K8sJSON.event("ADDED", "web", ip: "10.0.0.5", rv: "11"),
                                          K8sJSON.event("MODIFIED", "api", ip: "10.0.0.2", rv: "12")], end: .hang)])
        var snapshots = h.watcher.snapshots.makeAsyncIterator()
        let first = try #require(await snapshots.next())
        #expect(first.resourceVersion == "10")
        #expect(first.services.keys.sorted() == ["api"])
        #expect(first.services["api"]?.clusterIP == "10.0.0.1")
        var latest = first
        while latest.resourceVersion != "12", let next = await snapshots.next() { latest = next }
        #expect(latest.services["api"]?.clusterIP == "10.0.0.2")
        #expect(latest.services["web"]?.clusterIP == "10.0.0.5")

        let requests = try await h.requests(2)
        #expect(requests[0].watch == false && requests[0].query.isEmpty)
        #expect(requests[1].watch)
        #expect(requests[1].query["watch"] == "true")
        #expect(requests[1].query["resourceVersion"] == "10")
        #expect(requests[1].query["allowWatchBookmarks"] == "true")
        let timeout = try #require(Int(requests[1].query["timeoutSeconds"] ?? ""))
        #expect((300..<600).contains(timeout))
        #expect(await eventually { await h.watcher.health.connected }, "connected")
        await h.stop()
    }

    @Test func onlyChangesOfWatchedServicesPublish() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [("api", "10.0.0.1")]))],
                        watches: [.lines([K8sJSON.event("MODIFIED", "other", ip: "10.0.0.7", rv: "11"),
                                          K8sJSON.event("MODIFIED", "api", ip: "10.0.0.1", rv: "12", label: "relabelled"),
                                          K8sJSON.event("MODIFIED", "api", ip: "10.0.0.3", rv: "13")], end: .clean)])
        let requests = try await h.requests(3)
        #expect(await h.watcher.health.snapshots == 2)
        #expect(requests[2].query["resourceVersion"] == "13")
        var snapshots = h.watcher.snapshots.makeAsyncIterator()
        let latest = try #require(await snapshots.next())   // the newest one waits; older ones are dropped
        #expect(latest.resourceVersion == "13")
        #expect(latest.services["api"]?.clusterIP == "10.0.0.3")
        await h.stop()
    }

    @Test func deleteThenAddPublishesAbsenceThenNewAddress() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [("api", "10.0.0.1")]))],
                        watches: [.lines([K8sJSON.event("DELETED", "api", ip: "10.0.0.1", rv: "11")], end: .hang)])
        var snapshots = h.watcher.snapshots.makeAsyncIterator()
        #expect(await snapshots.next()?.services["api"] != nil)
        let deleted = try #require(await snapshots.next())
        #expect(deleted.services.isEmpty)
        #expect(deleted.resourceVersion == "11")
        await h.stop()
    }

    @Test func cleanCloseRewatchesFromLastVersionWithoutRelist() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", []))],
                        watches: [.lines([K8sJSON.event("ADDED", "other", ip: "10.0.0.7", rv: "11")], end: .clean),
                                  .lines([], end: .hang)])
        let requests = try await h.requests(3)
        #expect(requests.map(\.watch) == [false, true, true])
        #expect(requests[2].query["resourceVersion"] == "11")
        #expect(h.delays.all.isEmpty)
        let health = await h.watcher.health
        #expect(health.lists == 1 && health.watches == 2 && health.reconnects == 0)
        await h.stop()
    }

    @Test func brokenStreamAfterEventsResumesWithoutRelist() async throws {
        let broken = K8sError(code: .connection, message: "transfer closed with outstanding read data remaining")
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", []))],
                        watches: [.lines([K8sJSON.bookmark(rv: "15")], end: .error(broken)), .lines([], end: .hang)])
        let requests = try await h.requests(3)
        #expect(requests.map(\.watch) == [false, true, true])
        #expect(requests[2].query["resourceVersion"] == "15")
        #expect(h.delays.all.isEmpty)
        await h.stop()
    }

    @Test func bookmarkMovesResourceVersionOnly() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [("api", "10.0.0.1")]))],
                        watches: [.lines([K8sJSON.bookmark(rv: "50")], end: .clean), .lines([], end: .hang)])
        let requests = try await h.requests(3)
        #expect(requests[2].query["resourceVersion"] == "50")
        let health = await h.watcher.health
        #expect(health.snapshots == 1)
        #expect(health.lastEventAt != nil)
        await h.stop()
    }

    @Test func goneEventRelistsExactlyOnce() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [("api", "10.0.0.1")])),
                                .body(K8sJSON.list(rv: "20", [("api", "10.0.0.2")]))],
                        watches: [.lines([K8sJSON.error(code: 410, reason: "Expired", message: "too old resource version: 10 (15)")], end: .clean),
                                  .lines([], end: .hang)])
        let requests = try await h.requests(4)
        #expect(requests.map(\.watch) == [false, true, false, true])
        #expect(requests[2].query == ["resourceVersion": "10"])
        #expect(requests[3].query["resourceVersion"] == "20")
        #expect(h.delays.all.isEmpty)
        let health = await h.watcher.health
        #expect(health.lists == 2 && health.snapshots == 2)
        await h.stop()
    }

    @Test func goneStatusRelistsAndAGoneListListsWithoutVersion() async throws {
        let gone = K8sError(code: .gone, message: "too old resource version", httpStatus: 410)
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [])), .fail(gone), .body(K8sJSON.list(rv: "30", []))],
                        watches: [.fail(gone), .lines([], end: .hang)])
        let requests = try await h.requests(5)
        #expect(requests.map(\.watch) == [false, true, false, false, true])
        #expect(requests[2].query == ["resourceVersion": "10"])
        #expect(requests[3].query.isEmpty)
        #expect(requests[4].query["resourceVersion"] == "30")
        #expect(h.delays.all.isEmpty)
        await h.stop()
    }

    @Test func repeatedGoneBacksOff() async throws {
        let gone = K8sError(code: .gone, message: "gone", httpStatus: 410)
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [])), .body(K8sJSON.list(rv: "10", []))],
                        watches: [.fail(gone), .fail(gone)])
        _ = try await h.requests(5)
        #expect(h.delays.all == [.milliseconds(800)])
        await h.stop()
    }

    @Test func tooManyRequestsWaitsRetryAfterThenRewatchesSameVersion() async throws {
        let throttled = K8sError(code: .tooManyRequests, message: "too many requests", httpStatus: 429, retryAfter: .seconds(7))
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", []))],
                        watches: [.fail(throttled), .lines([K8sJSON.error(code: 429, reason: "TooManyRequests", message: "slow down")], end: .clean),
                                  .lines([], end: .hang)])
        let requests = try await h.requests(4)
        #expect(requests.map(\.watch) == [false, true, true, true])
        #expect(requests.dropFirst().allSatisfy { $0.query["resourceVersion"] == "10" })
        // Retry-After when given; the backoff otherwise.
        #expect(h.delays.all == [.seconds(7), .milliseconds(800)])
        await h.stop()
    }

    @Test func backoffGrowsToTheCapAndLogsOncePerStateChange() async throws {
        let boom = K8sError(code: .server, message: "list /api/v1/namespaces/flowmaster/services: Internal error occurred: boom", httpStatus: 500)
        let h = Harness(lists: Array(repeating: .fail(boom), count: 8) + [.body(K8sJSON.list(rv: "10", []))],
                        watches: [.lines([], end: .hang)])
        _ = try await h.requests(10)
        #expect(h.delays.all == [.milliseconds(800), .milliseconds(1600), .milliseconds(3200), .milliseconds(6400),
                                 .milliseconds(12800), .milliseconds(25600), .seconds(30), .seconds(30)])
        #expect(h.logs.messages(.warning) == ["watch lost: \(boom.message); retrying with backoff"])
        #expect(await eventually { h.logs.messages(.notice) == ["watch restored after 8 attempts"] }, "restored")
        let health = await h.watcher.health
        #expect(health.reconnects == 8 && health.lists == 9 && health.lastError == nil)
        await h.stop()
    }

    @Test func aNewKindOfTroubleIsLoggedAgain() async throws {
        let h = Harness(lists: [.fail(K8sError(code: .connection, message: "connection refused")),
                                .fail(K8sError(code: .connection, message: "connection refused")),
                                .fail(K8sError(code: .unauthorized, message: "Unauthorized", httpStatus: 401))],
                        watches: [])
        _ = try await h.requests(4)
        #expect(h.logs.messages(.warning) == ["watch lost: connection refused; retrying with backoff",
                                              "watch lost: Unauthorized; retrying with backoff"])
        let health = await h.watcher.health
        #expect(health.lastError?.code == .unauthorized)
        #expect(health.connected == false)
        await h.stop()
    }

    @Test func malformedLineReconnectsWithRelistAndIsLogged() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [])), .body(K8sJSON.list(rv: "11", []))],
                        watches: [.lines(["{\"type\":\"ADDED\",\"object\":{"], end: .hang), .lines([], end: .hang)])
        let requests = try await h.requests(4)
        #expect(requests.map(\.watch) == [false, true, false, true])
        #expect(requests[2].query.isEmpty)
        #expect(h.delays.all == [.milliseconds(800)])
        let warning = try #require(h.logs.messages(.warning).first)
        #expect(warning.hasPrefix("watch lost: malformed watch event from /api/v1/namespaces/flowmaster/services: "))
        #expect(warning.hasSuffix("; retrying with backoff"))
        await h.stop()
    }

    @Test func stallIsAFailureThatRelists() async throws {
        let stalled = K8sError(code: .timeout, message: "no data for 330 s")
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [])), .body(K8sJSON.list(rv: "12", []))],
                        watches: [.lines([K8sJSON.bookmark(rv: "11")], end: .error(stalled)), .lines([], end: .hang)],
                        configure: { $0.idleGrace = .seconds(3) })
        let requests = try await h.requests(4)
        #expect(requests.map(\.watch) == [false, true, false, true])
        #expect(h.delays.all == [.milliseconds(800)])
        #expect(h.logs.messages(.warning) == ["watch lost: no data for 330 s; retrying with backoff"])
        await h.stop()
    }

    @Test func shortEmptyWatchBacksOffAndRewatches() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", []))],
                        watches: [.lines([], end: .clean), .lines([], end: .hang)],
                        configure: { $0.shortWatch = .seconds(3600) })   // "short" even on a starved machine
        let requests = try await h.requests(3)
        #expect(requests.map(\.watch) == [false, true, true])
        #expect(requests[2].query["resourceVersion"] == "10")
        #expect(h.delays.all == [.milliseconds(800)])
        await h.stop()
    }

    @Test func refusedWatchBacksOffAndRewatchesTheSameVersion() async throws {
        let refused = K8sError(code: .connection, message: "cannot connect to https://127.0.0.1:6443: Connection refused")
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", []))],
                        watches: [.fail(refused), .fail(refused), .lines([K8sJSON.bookmark(rv: "12")], end: .hang)])
        let requests = try await h.requests(4)
        #expect(requests.map(\.watch) == [false, true, true, true])
        #expect(requests.dropFirst().allSatisfy { $0.query["resourceVersion"] == "10" })
        #expect(h.delays.all == [.milliseconds(800), .milliseconds(1600)])
        #expect(await eventually { h.logs.messages(.notice) == ["watch restored after 2 attempts"] }, "restored")
        #expect(h.logs.messages(.warning).count == 1)
        #expect(await h.watcher.health.lastError == nil)
        await h.stop()
    }

    @Test func forbiddenWatchBacksOffAndRelists() async throws {
        let denied = K8sError(code: .forbidden, message: "services is forbidden", httpStatus: 403)
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [])), .body(K8sJSON.list(rv: "10", []))],
                        watches: [.fail(denied)])
        let requests = try await h.requests(4)
        #expect(requests.map(\.watch) == [false, true, false, true])
        #expect(h.delays.all == [.milliseconds(800)])
        await h.stop()
    }

    @Test func relistFetchesAFreshListAndPublishesChanges() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", [("api", "10.0.0.1")])),
                                .body(K8sJSON.list(rv: "40", [("api", "10.0.0.1")])),
                                .body(K8sJSON.list(rv: "41", [("api", "10.0.0.4")]))],
                        watches: [.lines([], end: .hang), .lines([], end: .hang), .lines([], end: .hang)])
        var snapshots = h.watcher.snapshots.makeAsyncIterator()
        #expect(await snapshots.next()?.resourceVersion == "10")
        _ = try await h.requests(2)
        await h.watcher.relist()
        var requests = try await h.requests(4)
        #expect(requests[2].watch == false && requests[2].query.isEmpty)
        #expect(requests[3].query["resourceVersion"] == "40")
        #expect(await h.watcher.health.snapshots == 1)   // same Services: nothing to publish
        await h.watcher.relist()
        requests = try await h.requests(6)
        let changed = try #require(await snapshots.next())
        #expect(changed.resourceVersion == "41" && changed.services["api"]?.clusterIP == "10.0.0.4")
        #expect(h.delays.all.isEmpty)
        await h.stop()
    }

    @Test func cancellationEndsRunAndFinishesSnapshots() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", []))], watches: [.lines([], end: .hang)])
        var snapshots = h.watcher.snapshots.makeAsyncIterator()
        #expect(await snapshots.next() != nil)
        _ = try await h.requests(2)
        h.run.cancel()
        await h.run.value
        #expect(await snapshots.next() == nil)
        #expect(await h.watcher.health.connected == false)
    }

    @Test func cancellationDuringBackoffEndsRun() async throws {
        let api = ScriptedAPI(lists: [.fail(K8sError(code: .connection, message: "refused"))], watches: [])
        var timing = WatchTiming()
        timing.sleep = { _ in try await Task.sleep(for: .seconds(3600)) }
        let watcher = ServiceWatcher(api: api, namespace: "flowmaster", names: ["api"], logger: InMemoryLogHandler().logger, timing: timing)
        let run = Task { await watcher.run() }
        #expect(await eventually { await watcher.health.reconnects == 1 }, "failed once")
        run.cancel()
        await run.value
    }
}

@Suite struct BackoffTests {
    @Test func doublesToTheCapWithJitterBelowIt() {
        var backoff = Backoff()
        let now = ContinuousClock.now
        let delays = (0..<10).map { _ in backoff.next(now: now, random: 0.999) }
        for (delay, base) in zip(delays, [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30, 30, 30]) {
            #expect(delay <= .seconds(base) && delay > .seconds(base * 0.75))
        }
    }

    @Test func resetsAfterTwoMinutesWithoutTrouble() {
        var backoff = Backoff(jitter: 0)
        var now = ContinuousClock.now
        for _ in 0..<4 { _ = backoff.next(now: now, random: 0) }
        now += .seconds(60)
        #expect(backoff.next(now: now, random: 0) == .milliseconds(6400 * 2))
        now += .milliseconds(12800) + .seconds(120)
        #expect(backoff.next(now: now, random: 0) == .milliseconds(800))
    }
}

@Suite struct OneShotTests {
    @Test func fetchSnapshotListsOnceAndKeepsWatchedNames() async throws {
        let api = ScriptedAPI(lists: [.body(K8sJSON.list(rv: "77", [("api", "10.0.0.1"), ("db", "10.0.0.2")]))], watches: [])
        let snapshot = try await fetchSnapshot(api: api, namespace: "flowmaster", names: ["api", "web"])
        #expect(snapshot.resourceVersion == "77")
        #expect(snapshot.services.keys.sorted() == ["api"])
        #expect(await api.requests.count == 1)
    }

    @Test func fetchSnapshotFollowsPages() async throws {
        let first = #"{"metadata":{"resourceVersion":"5","continue":"page2"},"items":[\#(K8sJSON.service("api", ip: "10.0.0.1", rv: "4"))]}"#
        let api = ScriptedAPI(lists: [.body(first), .body(K8sJSON.list(rv: "5", [("web", "10.0.0.2")]))], watches: [])
        let snapshot = try await fetchSnapshot(api: api, namespace: "flowmaster", names: ["api", "web"])
        #expect(snapshot.resourceVersion == "5")
        #expect(snapshot.services.keys.sorted() == ["api", "web"])
        #expect(await api.requests.map(\.query) == [[:], ["continue": "page2"]])
    }

    @Test func probeAccessListsAndWatches() async throws {
        let api = ScriptedAPI(lists: [.body(K8sJSON.list(rv: "1", []))], watches: [.lines([], end: .clean)])
        try await probeAccess(api: api, namespace: "flowmaster")
        let requests = await api.requests
        try #require(requests.map(\.watch) == [false, true])
        #expect(requests[0].query == ["limit": "1"])
        #expect(requests[1].query == ["watch": "true", "timeoutSeconds": "1"])
    }

    @Test func probeAccessNamesTheDeniedVerb() async throws {
        let denied = K8sError(code: .forbidden, message: "services is forbidden: User \"x\" cannot watch resource", httpStatus: 403)
        let api = ScriptedAPI(lists: [.body(K8sJSON.list(rv: "1", []))], watches: [.fail(denied)])
        let error = await #expect(throws: K8sError.self) { try await probeAccess(api: api, namespace: "flowmaster") }
        #expect(error?.code == .forbidden)
        #expect(error?.message == "cannot watch services in namespace flowmaster: services is forbidden: User \"x\" cannot watch resource")
    }
}
