import Foundation
import Testing
import TestSupport
@testable import K8sWatch

private let servicesPath = "/api/v1/namespaces/flowmaster/services"

private func elapsed<T>(_ body: () async throws -> T) async rethrows -> (T, Duration) {
    let start = ContinuousClock.now
    let value = try await body()
    return (value, ContinuousClock.now - start)
}

/// Whether no process of group `pgid` is left (a killed member may be a zombie for a moment).
func groupIsGone(_ pgid: pid_t) -> Bool {
    let end = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < end {
        if kill(-pgid, 0) == -1 && errno == ESRCH { return true }
        usleep(20_000)
    }
    return false
}

/// Issue 10 items 2, 3, 5 and 9 at the level of the client and the watcher: deadlines that no server
/// or plugin can stretch, truthful watch-state logging, messages that say what went wrong.
@Suite struct DeadlineTests {
    // MARK: Exec plugin (item 2)

    private static let hungPlugin = """
        #!/bin/sh
        echo $$ > "$(dirname "$0")/plugin.pgid"
        sleep 1000 &
        wait
        """

    @Test("a hung exec plugin is killed with its group at the timeout, and says it timed out")
    func hungPluginTimesOut() async throws {
        let fixture = try ExecFixture(expiry: nil, script: Self.hungPlugin)
        let plugin = try #require(try fixture.credentials().exec)
        // Off the cooperative pool: the plugin run blocks its thread.
        let error = try await blocking { Result { try plugin.credential(timeout: .seconds(1)) } }.failure
        #expect(error?.code == .execPlugin)
        #expect(error?.message.contains("timed out: no credential within 1 s") == true, "\(String(describing: error))")
        let pgid = try #require(pid_t(ConfigText.trimmedText(try readBytes(fixture.dir.file("plugin.pgid")))))
        #expect(groupIsGone(pgid), "the plugin's process group outlived the timeout")
    }

    @Test("a cancelled request stops its exec plugin and the plugin's group")
    func cancelledRequestStopsPlugin() async throws {
        let fixture = try ExecFixture(expiry: nil, script: Self.hungPlugin)
        let plugin = try #require(try fixture.credentials().exec)
        // Cancelled once the plugin is running (it has written its group id), whatever the machine's speed.
        let started = fixture.dir.file("plugin.pgid")
        let error = try await blocking {
            Result { try plugin.credential(timeout: .seconds(600), isCancelled: { (try? readBytes(started))?.last == 10 }) }
        }.failure
        #expect(error?.code == .cancelled)
        let pgid = try #require(pid_t(ConfigText.trimmedText(try readBytes(fixture.dir.file("plugin.pgid")))))
        #expect(groupIsGone(pgid))
    }

    @Test("an exec plugin's output over 1 MiB is refused")
    func pluginOutputIsCapped() async throws {
        let fixture = try ExecFixture(expiry: nil, script: "#!/bin/sh\nhead -c 3000000 /dev/zero | tr '\\\\0' x\n")
        let plugin = try #require(try fixture.credentials().exec)
        let error = try await blocking { Result { try plugin.credential(timeout: .seconds(60)) } }.failure
        #expect(error?.message.contains("printed more than 1048576 bytes") == true, "\(String(describing: error))")
    }

    // MARK: Request deadlines (item 3)

    private func client(_ server: TestAPIServer, _ timeouts: APITimeouts) throws -> APIClient {
        APIClient(credentials: try KubeConfigLoader.load(path: server.kubeconfigToken, context: nil, environment: [:]),
                  timeouts: timeouts)
    }

    @Test("a server that drips its response headers is abandoned at the headers deadline")
    func drippedHeadersHitTheHeadersDeadline() async throws {
        let server = try await TestAPIServer.start()
        try server.fault("drip", extra: ["phase": "headers", "intervalMs": 200])
        let api = try client(server, APITimeouts(headers: .seconds(1), request: .seconds(20)))
        let (result, _) = await elapsed { await Result(catching: { () async throws(K8sError) in try await api.get(servicesPath, query: []) }) }
        guard case .failure(let error) = result else { Issue.record("a dripping server answered"); return }
        #expect(error.code == .timeout)
        #expect(error.message.contains("no response from \(server.url)\(servicesPath) within 1 s"), "\(error)")
    }

    @Test("a server that drips its body is abandoned at the whole-request deadline, however often a byte comes")
    func drippedBodyHitsTheRequestDeadline() async throws {
        let server = try await TestAPIServer.start()
        try server.fault("drip", extra: ["phase": "body", "intervalMs": 200])
        let api = try client(server, APITimeouts(headers: .seconds(1), request: .seconds(2)))
        let (result, _) = await elapsed { await Result(catching: { () async throws(K8sError) in try await api.get(servicesPath, query: []) }) }
        guard case .failure(let error) = result else { Issue.record("a dripping server answered"); return }
        #expect(error.code == .timeout)
        #expect(error.message.contains("did not finish answering within 2 s"), "\(error)")
    }

    // MARK: Messages (item 9)

    @Test("an HTML answer says what was expected, the status, the content type and the first bytes")
    func htmlAnswerIsNamed() async throws {
        let server = try await TestAPIServer.start()
        try server.fault("html")
        let api = try client(server, APITimeouts())
        let error = await #expect(throws: K8sError.self) { try await api.get(servicesPath, query: []) }
        let message = error?.message ?? ""
        #expect(error?.code == .badResponse)
        #expect(message.contains("answered HTTP 200 with Content-Type text/html; charset=utf-8"), "\(message)")
        #expect(message.contains("starting '<!DOCTYPE html> <html><head><title>Sign in"), "\(message)")
        #expect(message.contains("where a JSON object was expected"), "\(message)")
        #expect(!message.contains("not valid JSON"))
    }

    @Test("an expired client certificate is named with its expiry date")
    func expiredClientCertificateIsNamed() async throws {
        let server = try await TestAPIServer.start()
        let dir = try TempDir()
        func openssl(_ arguments: [String]) async throws {
            let result = try await blocking { try runProcess("/usr/bin/openssl", arguments) }
            guard result.status == 0 else { throw TestAPIServerError("openssl \(arguments): \(result.stderr)") }
        }
        try await openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("old.key"), "-out", dir.file("old.csr"),
                     "-subj", "/CN=ipsyncd-test"])
        try await openssl(["x509", "-req", "-in", dir.file("old.csr"), "-CA", server.caPath, "-CAkey", server.dir + "/ca.key",
                     "-set_serial", "0x1234", "-days", "-1", "-out", dir.file("old.crt")])
        let notAfter = try #require(CertificateValidity.notAfter(pem: try readBytes(dir.file("old.crt"))))
        #expect(notAfter < Date() && notAfter > Date() - 3 * 86400)
        let config = try dir.write("config", """
            clusters: [{name: c, cluster: {server: "\(server.url)", certificate-authority: "\(server.caPath)"}}]
            users: [{name: u, user: {client-certificate: old.crt, client-key: old.key}}]
            contexts: [{name: a, context: {cluster: c, user: u, namespace: flowmaster}}]
            current-context: a
            """)
        let api = APIClient(credentials: try KubeConfigLoader.load(path: config, context: nil, environment: [:]))
        let error = await #expect(throws: K8sError.self) { try await api.get(servicesPath, query: []) }
        let date = notAfter.formatted(Date.ISO8601FormatStyle())
        #expect(error?.message.hasPrefix("the client certificate in \(config) expired on \(date)") == true,
                "\(String(describing: error))")
    }

    // MARK: The watcher (items 3, 4, 5)

    @Test("a watch that stays denied while LIST is allowed is one warning, and 'restored' only once a watch opens")
    func deniedWatchIsOneWarning() async throws {
        let denied = K8sError(code: .forbidden, message: "services is forbidden", httpStatus: 403)
        let h = Harness(lists: Array(repeating: .body(K8sJSON.list(rv: "10", [])), count: 5),
                        watches: Array(repeating: .fail(denied), count: 4) + [.lines([], end: .hang)])
        _ = try await h.requests(10)
        #expect(await eventually { !h.logs.messages(.notice).isEmpty }, "never restored")
        #expect(h.logs.messages(.warning) == ["watch lost: services is forbidden; retrying with backoff"])
        #expect(h.logs.messages(.notice) == ["watch restored after 4 attempts"])
        await h.stop()
    }

    @Test("a trouble that lasts is logged again after the repeat interval, with the count")
    func lastingTroubleIsRepeatedWithCount() async throws {
        let denied = K8sError(code: .forbidden, message: "services is forbidden", httpStatus: 403)
        let h = Harness(lists: Array(repeating: .body(K8sJSON.list(rv: "10", [])), count: 3),
                        watches: Array(repeating: .fail(denied), count: 3), configure: { $0.repeatWarning = .zero })
        _ = try await h.requests(7)
        #expect(h.logs.messages(.warning) == [
            "watch lost: services is forbidden; retrying with backoff",
            "watch still failing after 2 attempts: services is forbidden; retrying with backoff",
            "watch still failing after 3 attempts: services is forbidden; retrying with backoff",
        ])
        #expect(h.logs.messages(.notice).isEmpty)
        await h.stop()
    }

    @Test("relist() abandons a LIST that hangs and lists again")
    func relistAbandonsAHangingList() async throws {
        let h = Harness(lists: [.hang, .body(K8sJSON.list(rv: "10", [("api", "10.0.0.1")]))],
                        watches: [.lines([], end: .hang)])
        _ = try await h.requests(1)
        await h.watcher.relist()
        let requests = try await h.requests(3)
        #expect(requests.map(\.watch) == [false, false, true])
        var iterator = h.watcher.snapshots.makeAsyncIterator()
        #expect(await iterator.next()?.services["api"] != nil)
        await h.stop()
    }

    @Test("once the server sends bookmarks, a watch gets the bookmark-derived read deadline")
    func bookmarksShortenTheReadDeadline() async throws {
        let h = Harness(lists: [.body(K8sJSON.list(rv: "10", []))],
                        watches: [.lines([K8sJSON.bookmark(rv: "11")], end: .clean), .lines([], end: .hang)],
                        configure: { $0.bookmarkSilence = .seconds(7); $0.idleGrace = .seconds(30) })
        let requests = try await h.requests(3)
        #expect(try #require(requests[1].idleTimeout) >= .seconds(300 + 30), "no bookmark seen yet: the long limit")
        #expect(requests[2].idleTimeout == .seconds(7))
        #expect(requests[2].query["resourceVersion"] == "11")
        await h.stop()
    }

    @Test("TCP keepalive adds up to the silence deadline")
    func keepaliveAddsUp() {
        let standard = APITimeouts().keepalive
        #expect(standard.idle == 30 && standard.interval == 7 && standard.probes == 3)
        let short = APITimeouts(watchSilence: .seconds(4)).keepalive
        #expect(short.idle + short.interval * short.probes <= 5 && short.idle >= 1 && short.interval >= 1)
        #expect(APITimeouts(request: .seconds(30)).headers == .seconds(15))
    }
}

extension Result where Failure == any Error {
    /// The error as a K8sError (nil when it succeeded or failed otherwise).
    var failure: K8sError? {
        if case .failure(let error) = self { return error as? K8sError }
        return nil
    }
}

extension Result where Failure == K8sError {
    init(catching body: () async throws(K8sError) -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
