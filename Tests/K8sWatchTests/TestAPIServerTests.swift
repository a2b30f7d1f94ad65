import Foundation
import Testing
import TestSupport

/// The test API server itself, spoken to with the curl command-line tool (a client independent of ours).
@Suite("TestAPIServer")
struct TestAPIServerTests {
    enum Auth: Sendable { case cert, token(String), none }

    static let seeded = [
        ServiceSpec("api-gateway", clusterIP: "10.43.0.12", ports: [.init(name: "http", port: 9000)]),
        ServiceSpec("frontend-nextjs", clusterIP: "10.43.0.20"),
    ]

    static func curlPath() throws -> String {
        try #require(findExecutable("curl"), "the curl command-line tool is needed for these tests")
    }

    static func authArguments(_ server: TestAPIServer, _ auth: Auth) -> [String] {
        var args = server.url.hasPrefix("https") ? ["--cacert", server.caPath] : []
        switch auth {
        case .cert: args += ["--cert", server.clientCertPath, "--key", server.clientKeyPath]
        case .token(let token): args += ["-H", "Authorization: Bearer \(token)"]
        case .none: break
        }
        return args
    }

    /// One GET; the HTTP status, headers and body.
    static func get(_ server: TestAPIServer, _ path: String, auth: Auth = .cert, extra: [String] = [])
        async throws -> (status: Int, headers: String, body: String, exit: Int32) {
        let arguments = ["-sS", "-D", "-", "--max-time", "20"] + authArguments(server, auth) + extra + [server.url + path]
        let curl = try curlPath()
        let result = try await blocking { try runProcess(curl, arguments) }
        let parts = result.stdout.components(separatedBy: "\r\n\r\n")
        let statusLine = parts.first?.split(separator: "\r\n").first ?? ""
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, parts.first ?? "", parts.dropFirst().joined(separator: "\r\n\r\n"), result.status)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    /// Events of a watch body, one JSON object per line.
    static func events(_ lines: [String]) throws -> [[String: Any]] {
        try lines.filter { !$0.isEmpty }.map { try json($0) }
    }

    static func watch(_ server: TestAPIServer, _ query: String) throws -> StreamingProcess {
        try StreamingProcess(try curlPath(), ["-sSN", "--max-time", "30"] + authArguments(server, .cert)
            + [server.url + "/api/v1/namespaces/flowmaster/services?watch=true&" + query])
    }

    /// Waits until the server counts `count` open watches (so a watch is registered before events are made).
    static func waitForOpenWatches(_ server: TestAPIServer, _ count: Int) async throws {
        let deadline = Date().addingTimeInterval(15)
        while try server.stats().openWatches != count {
            guard Date() < deadline else { Issue.record("open watches never reached \(count)"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func names(_ list: [String: Any]) -> [String] {
        (list["items"] as? [[String: Any]] ?? []).compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String }
    }

    @Test func startsAndStops() async throws {
        let server = try await TestAPIServer.start()
        #expect(server.url.hasPrefix("https://127.0.0.1:"))
        #expect(FileManager.default.fileExists(atPath: server.kubeconfigCert))
        #expect(FileManager.default.fileExists(atPath: server.kubeconfigToken))
        #expect(!server.token.isEmpty)
        #expect(try server.stats().openWatches == 0)
        server.stop()
        #expect(throws: TestAPIServerError.self) { try server.stats() }
        server.stop()
    }

    @Test func listsWithClientCertificate() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let response = try await Self.get(server, "/api/v1/namespaces/flowmaster/services")
        #expect(response.status == 200)
        let list = try Self.json(response.body)
        #expect(list["kind"] as? String == "ServiceList")
        #expect(Self.names(list) == ["api-gateway", "frontend-nextjs"])
        let first = try #require((list["items"] as? [[String: Any]])?.first)
        #expect((first["spec"] as? [String: Any])?["clusterIP"] as? String == "10.43.0.12")
        #expect(((first["metadata"] as? [String: Any])?["resourceVersion"] as? String) != nil)
    }

    @Test func listsWithBearerToken() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let response = try await Self.get(server, "/api/v1/namespaces/flowmaster/services", auth: .token(server.token))
        #expect(response.status == 200)
        #expect(Self.names(try Self.json(response.body)) == ["api-gateway", "frontend-nextjs"])
        let one = try await Self.get(server, "/api/v1/namespaces/flowmaster/services/api-gateway", auth: .token(server.token))
        #expect(try Self.json(one.body)["kind"] as? String == "Service")
        let missing = try await Self.get(server, "/api/v1/namespaces/flowmaster/services/nope", auth: .token(server.token))
        #expect(missing.status == 404)
        #expect(try Self.json(missing.body)["reason"] as? String == "NotFound")
    }

    @Test func plainServerTakesTokens() async throws {
        let server = try await TestAPIServer.start(plain: true, services: Self.seeded)
        #expect(server.url.hasPrefix("http://127.0.0.1:"))
        #expect(try await Self.get(server, "/api/v1/namespaces/flowmaster/services", auth: .token(server.token)).status == 200)
        #expect(try await Self.get(server, "/api/v1/namespaces/flowmaster/services", auth: .none).status == 401)
    }

    @Test func rejectsMissingAndRotatedCredentials() async throws {
        let server = try await TestAPIServer.start()
        let anonymous = try await Self.get(server, "/api/v1/namespaces/flowmaster/services", auth: .none)
        #expect(anonymous.status == 401)
        let status = try Self.json(anonymous.body)
        #expect(status["kind"] as? String == "Status")
        #expect(status["reason"] as? String == "Unauthorized")
        #expect(status["code"] as? Int == 401)
        #expect(try await Self.get(server, "/api/v1/namespaces/flowmaster/services", auth: .token("wrong")).status == 401)
        try server.setTokens(["rotated"])
        #expect(try await Self.get(server, "/api/v1/namespaces/flowmaster/services", auth: .token("rotated")).status == 200)
        #expect(try await Self.get(server, "/api/v1/namespaces/flowmaster/services", auth: .token(server.token)).status == 401)
    }

    @Test func wrongCAFailsTheHandshake() async throws {
        let server = try await TestAPIServer.start()
        let arguments = ["-sS", "--max-time", "20", "--cacert", server.otherCAPath, server.url + "/api"]
        let curl = try Self.curlPath()
        let result = try await blocking { try runProcess(curl, arguments) }
        #expect(result.status == 60, "curl exit \(result.status): \(result.stderr)")  // 60: peer certificate not verified
    }

    @Test func watchFromResourceVersionSeesRecreate() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let rv = try server.stats().resourceVersion
        let watch = try Self.watch(server, "resourceVersion=\(rv)&timeoutSeconds=20")
        defer { watch.stop() }
        try await Self.waitForOpenWatches(server, 1)
        let emitted = try server.recreate("api-gateway", clusterIP: "10.43.7.3", gapMs: 20)
        #expect(await watch.line { $0.contains("\"ADDED\"") } != nil, "stderr: \(watch.stderr)")
        let events = try Self.events(watch.lines)
        #expect(events.map { $0["type"] as? String } == ["DELETED", "ADDED"])
        let added = try #require(events.last?["object"] as? [String: Any])
        #expect(added["kind"] as? String == "Service")
        #expect((added["spec"] as? [String: Any])?["clusterIP"] as? String == "10.43.7.3")
        #expect((added["metadata"] as? [String: Any])?["resourceVersion"] as? String == emitted.resourceVersion)
        let deleted = try #require(events.first?["object"] as? [String: Any])
        #expect((deleted["spec"] as? [String: Any])?["clusterIP"] as? String == "10.43.0.12")
    }

    @Test func watchWithoutResourceVersionStartsWithAdded() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let watch = try Self.watch(server, "timeoutSeconds=1")
        #expect(await watch.exitStatus() == 0)
        #expect(try Self.events(watch.lines).map { $0["type"] as? String } == ["ADDED", "ADDED"])
    }

    @Test func expiredResourceVersionGetsErrorEvent() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded, history: 2)
        let old = try server.stats().resourceVersion
        for i in 0..<3 { try server.create("svc-\(i)", clusterIP: "10.43.1.\(i)") }
        let response = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&resourceVersion=\(old)")
        #expect(response.status == 200)
        let event = try Self.json(response.body.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(event["type"] as? String == "ERROR")
        let status = try #require(event["object"] as? [String: Any])
        #expect(status["code"] as? Int == 410)
        #expect(status["reason"] as? String == "Expired")

        // After a compaction even the newest-but-one version is too old; the current one still works.
        let current = try server.stats().resourceVersion
        try server.fault("compact")
        let stale = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&resourceVersion=\(Int(current)! - 1)")
        #expect(stale.body.contains("\"code\":410"))
        let fresh = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&resourceVersion=\(current)&timeoutSeconds=1")
        #expect(fresh.status == 200 && fresh.exit == 0 && !fresh.body.contains("ERROR"))
    }

    @Test func goneFaultsByEventAndByStatus() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let rv = try server.stats().resourceVersion
        try server.fault("gone-event")
        let byEvent = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&resourceVersion=\(rv)")
        #expect(byEvent.status == 200)
        #expect(byEvent.body.contains("\"type\":\"ERROR\"") && byEvent.body.contains("\"code\":410"))
        try server.fault("gone-status")
        let byStatus = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&resourceVersion=\(rv)")
        #expect(byStatus.status == 410)
        #expect(try Self.json(byStatus.body)["reason"] as? String == "Expired")
        let normal = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&resourceVersion=\(rv)&timeoutSeconds=1")
        #expect(normal.status == 200 && !normal.body.contains("ERROR"))
    }

    @Test func statusFaultsCarryRetryAfter() async throws {
        let server = try await TestAPIServer.start()
        try server.fault("status", count: 1, extra: ["code": 429, "retryAfter": 3, "verb": "list"])
        let limited = try await Self.get(server, "/api/v1/namespaces/flowmaster/services")
        #expect(limited.status == 429)
        #expect(limited.headers.lowercased().contains("retry-after: 3"))
        #expect(try Self.json(limited.body)["reason"] as? String == "TooManyRequests")
        try server.fault("status", count: 1, extra: ["code": 500, "verb": "watch"])
        #expect(try await Self.get(server, "/api/v1/namespaces/flowmaster/services").status == 200)
        let failed = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=1")
        #expect(failed.status == 500)
        #expect(try Self.json(failed.body)["reason"] as? String == "InternalError")
        try server.fault("status", count: 2, extra: ["code": 403])
        for _ in 0..<2 {
            let forbidden = try await Self.get(server, "/api/v1/namespaces/flowmaster/services")
            #expect(forbidden.status == 403)
            #expect(try Self.json(forbidden.body)["reason"] as? String == "Forbidden")
        }
        #expect(try await Self.get(server, "/api/v1/namespaces/flowmaster/services").status == 200)
    }

    @Test func servesIPv6() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded, host: "::1")
        #expect(server.url.hasPrefix("https://[::1]:"))
        let response = try await Self.get(server, "/api/v1/namespaces/flowmaster/services", extra: ["-g"])
        #expect(response.status == 200)
        #expect(Self.names(try Self.json(response.body)) == ["api-gateway", "frontend-nextjs"])
    }

    @Test func bookmarksArrive() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        try server.setBookmarkInterval(ms: 100)
        let rv = try server.stats().resourceVersion
        let watch = try Self.watch(server, "resourceVersion=\(rv)&allowWatchBookmarks=true&timeoutSeconds=20")
        defer { watch.stop() }
        let line = try #require(await watch.line { $0.contains("BOOKMARK") }, "stderr: \(watch.stderr)")
        let object = try #require(try Self.json(line)["object"] as? [String: Any])
        #expect(object["kind"] as? String == "Service")
        #expect((object["metadata"] as? [String: Any])?["resourceVersion"] as? String == rv)
    }

    @Test func timeoutSecondsEndsTheStreamCleanly() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let rv = try server.stats().resourceVersion
        let response = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&resourceVersion=\(rv)&timeoutSeconds=1")
        #expect(response.exit == 0)  // curl fails (18) on a chunked body cut short
        #expect(response.status == 200)
        #expect(response.headers.lowercased().contains("transfer-encoding: chunked"))
    }

    @Test func dropCutsOpenWatches() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let rv = try server.stats().resourceVersion
        let watch = try Self.watch(server, "resourceVersion=\(rv)")
        try await Self.waitForOpenWatches(server, 1)
        try server.fault("drop")
        #expect(await watch.exitStatus() == 18)  // curl: transfer closed with outstanding read data remaining
        try await Self.waitForOpenWatches(server, 0)
    }

    @Test func malformedLineReachesOpenWatches() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let rv = try server.stats().resourceVersion
        let watch = try Self.watch(server, "resourceVersion=\(rv)&timeoutSeconds=20")
        defer { watch.stop() }
        try await Self.waitForOpenWatches(server, 1)
        try server.fault("malformed")
        #expect(await watch.line { $0.contains("not json") } != nil)
    }

    @Test func stalledWatchesHoldEventsUntilUnstalled() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let rv = try server.stats().resourceVersion
        let watch = try Self.watch(server, "resourceVersion=\(rv)&timeoutSeconds=20")
        defer { watch.stop() }
        try await Self.waitForOpenWatches(server, 1)
        try server.fault("stall")
        try server.create("late", clusterIP: "10.43.9.9")
        #expect(await watch.line(timeout: 0.5) { $0.contains("late") } == nil)
        try server.fault("unstall")
        #expect(await watch.line { $0.contains("\"late\"") } != nil)
    }

    @Test func sendInitialEventsIsRejected() async throws {
        let server = try await TestAPIServer.start()
        let response = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&sendInitialEvents=true"
            + "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
        #expect(response.status == 422)
        let status = try Self.json(response.body)
        #expect(status["reason"] as? String == "Invalid")
        #expect(status["code"] as? Int == 422)
    }

    @Test func listPagesWithContinue() async throws {
        let server = try await TestAPIServer.start()
        try server.bulk(prefix: "page", count: 5)
        var names: [String] = [], token = "", pages = 0
        repeat {
            let query = token.isEmpty ? "limit=2" : "limit=2&continue=\(token)"
            let list = try Self.json(try await Self.get(server, "/api/v1/namespaces/flowmaster/services?" + query).body)
            names += Self.names(list)
            token = (list["metadata"] as? [String: Any])?["continue"] as? String ?? ""
            pages += 1
        } while !token.isEmpty && pages < 10
        #expect(pages == 3)
        #expect(names == (0..<5).map { "page-\($0)" })
    }

    @Test func expiredContinueTokenGets410() async throws {
        let server = try await TestAPIServer.start()
        try server.bulk(prefix: "page", count: 5)
        let first = try Self.json(try await Self.get(server, "/api/v1/namespaces/flowmaster/services?limit=2").body)
        let token = try #require((first["metadata"] as? [String: Any])?["continue"] as? String)
        try server.create("newer", clusterIP: "10.43.2.2")
        try server.fault("compact")
        let next = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?limit=2&continue=\(token)")
        #expect(next.status == 410)
        #expect(try Self.json(next.body)["reason"] as? String == "Expired")
    }

    @Test func selectorsFilterListsAndWatches() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        let byName = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?fieldSelector=metadata.name%3Dapi-gateway")
        #expect(Self.names(try Self.json(byName.body)) == ["api-gateway"])
        let byLabel = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?labelSelector=app%3Dfrontend-nextjs")
        #expect(Self.names(try Self.json(byLabel.body)) == ["frontend-nextjs"])
        let otherNamespace = try await Self.get(server, "/api/v1/namespaces/elsewhere/services")
        #expect(otherNamespace.status == 200)
        #expect(Self.names(try Self.json(otherNamespace.body)).isEmpty)
        let rv = try server.stats().resourceVersion
        let watch = try Self.watch(server, "resourceVersion=\(rv)&timeoutSeconds=20&fieldSelector=metadata.name%3Dapi-gateway")
        defer { watch.stop() }
        try await Self.waitForOpenWatches(server, 1)
        try server.update("frontend-nextjs", clusterIP: "10.43.0.21")
        try server.update("api-gateway", clusterIP: "10.43.0.13")
        #expect(await watch.line { $0.contains("MODIFIED") } != nil)
        #expect(try Self.events(watch.lines).map { ($0["object"] as? [String: Any])?["metadata"] as? [String: Any] }
            .map { $0?["name"] as? String } == ["api-gateway"])
    }

    @Test func statsCountListsAndWatches() async throws {
        let server = try await TestAPIServer.start(services: Self.seeded)
        _ = try await Self.get(server, "/api/v1/namespaces/flowmaster/services")
        try server.resetStats()
        _ = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?limit=500")
        _ = try await Self.get(server, "/api/v1/namespaces/flowmaster/services")
        _ = try await Self.get(server, "/api/v1/namespaces/flowmaster/services?watch=true&timeoutSeconds=1")
        _ = try await Self.get(server, "/api/v1")
        let stats = try server.stats()
        #expect(stats.lists == 2)
        #expect(stats.watches == 1)
        #expect(stats.requests.count == 4)
        #expect(stats.requests.first == "GET /api/v1/namespaces/flowmaster/services?limit=500")
        #expect(stats.requests.contains("GET /api/v1/namespaces/flowmaster/services?watch=true&timeoutSeconds=1"))
    }
}
