import Foundation
import Testing
import TestSupport
@testable import K8sWatch

private let servicesPath = "/api/v1/namespaces/flowmaster/services"

/// A kubeconfig for `server` with the given cluster and user lines, written into the server's directory
/// area (a temp dir of its own, so relative paths are tested elsewhere).
private func kubeconfig(_ dir: TempDir, _ server: TestAPIServer, cluster: String, user: String) throws -> String {
    try dir.write("config-\(UUID().uuidString)", """
        clusters: [{name: c, cluster: {server: "\(server.url)", \(cluster)}}]
        users: [{name: u, user: {\(user)}}]
        contexts: [{name: a, context: {cluster: c, user: u, namespace: flowmaster}}]
        current-context: a
        """)
}

private func client(_ path: String) throws -> APIClient {
    APIClient(credentials: try KubeConfigLoader.load(path: path, context: nil, environment: [:]))
}

private func base64(_ path: String) throws -> String { Data(try readBytes(path)).base64EncodedString() }

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

private let api = ServiceSpec("api-gateway", clusterIP: "10.43.0.12", ports: [.init(name: "http", port: 9000)])

@Suite struct TransportTests {
    @Test func urlsAreBuiltAndEscaped() {
        let url = APIClient.url(server: "https://10.0.0.1:6443/", path: "/api/v1/namespaces/flowmaster/services",
                                query: [("watch", "true"), ("labelSelector", "app in (a,b)")])
        #expect(url == "https://10.0.0.1:6443/api/v1/namespaces/flowmaster/services?watch=true&labelSelector=app%20in%20%28a%2Cb%29")
        #expect(APIClient.display(url) == "https://10.0.0.1:6443/api/v1/namespaces/flowmaster/services")
    }

    @Test func serverAddressParsesHostsAndPorts() throws {
        let v6 = try #require(ServerAddress("https://[fd00::1]:6443/prefix"))
        #expect(v6.host == "fd00::1" && v6.port == 6443 && v6.bracketedHost == "[fd00::1]")
        #expect(v6.replacingHost(in: "https://[fd00::1]:6443/prefix/api", with: "kubernetes") == "https://kubernetes:6443/prefix/api")
        let plain = try #require(ServerAddress("https://example.test"))
        #expect(plain.host == "example.test" && plain.port == 443)
    }

    @Test func lineSplitterJoinsChunks() {
        var splitter = LineSplitter()
        var lines: [String] = []
        for chunk in ["{\"a\":", "1}\n{\"b\"", ":2}\n\n{\"c\":3}\n{\"d"] {
            let ok = Array(chunk.utf8).withUnsafeBytes { splitter.feed($0) { lines.append(String(decoding: $0, as: UTF8.self)) } }
            #expect(ok)
        }
        #expect(lines == [#"{"a":1}"#, #"{"b":2}"#, "", #"{"c":3}"#])
        #expect(splitter.remainder == Array(#"{"d"#.utf8))
    }

    @Test func cancellingAGetReturnsCancelledPromptly() async throws {
        // A socket that listens but never answers: the connection is made, the response never comes.
        let (fd, port) = try silentListener()
        defer { close(fd) }
        let client = APIClient(credentials: ClusterCredentials(server: "http://127.0.0.1:\(port)"))
        let request = Task { () -> K8sError? in
            do throws(K8sError) { _ = try await client.get("/api/v1/namespaces/x/services", query: []); return nil } catch { return error }
        }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        request.cancel()
        let error = await request.value
        let elapsed = ContinuousClock.now - start
        #expect(error?.code == .cancelled)
        // Not asserted: this includes the wait for a cooperative thread, which a loaded machine delays.
        print("transport: get cancelled after \(elapsed)")
    }

    @Test func refusedConnectionIsConnectionError() async throws {
        // A port that was free a moment ago: bind, read the port, close.
        let port = try freePort()
        let client = APIClient(credentials: ClusterCredentials(server: "http://127.0.0.1:\(port)"))
        let error = await #expect(throws: K8sError.self) { try await client.get("/api/v1/namespaces/x/services", query: []) }
        #expect(error?.code == .connection)
        #expect(error?.message.hasPrefix("cannot connect to http://127.0.0.1:\(port):") == true)
    }
}

/// One test API server for the tests that only read from it (serialized: status faults are consumed
/// by the test that injects them), started once for the suite and stopped after it.
private struct SharedAPIServer: SuiteTrait, TestScoping {
    @TaskLocal static var current: TestAPIServer?

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try TestAPIServer(services: [api])
        defer { server.stop() }
        try await Self.$current.withValue(server) { try await function() }
    }
}

@Suite(.serialized, SharedAPIServer()) struct TransportSharedServerTests {
    @Test func listWithClientCertificateFiles() async throws {
        let server = try #require(SharedAPIServer.current)
        let body = try await client(server.kubeconfigCert).get(servicesPath, query: [])
        #expect(text(body).contains(#""name":"api-gateway""#))
        #expect(text(body).contains(#""kind":"ServiceList""#))
    }

    @Test func concurrentRequestsEachGetTheirOwnTransfer() async throws {
        let server = try #require(SharedAPIServer.current)
        let client = try client(server.kubeconfigCert)
        let bodies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<8 { group.addTask { try await client.get(servicesPath, query: []) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(bodies.count == 8)
        #expect(bodies.allSatisfy { text($0).contains("api-gateway") })
    }

    @Test func listWithInlineCertificateData() async throws {
        let server = try #require(SharedAPIServer.current)
        let dir = try TempDir()
        let path = try kubeconfig(dir, server, cluster: "certificate-authority-data: \(try base64(server.caPath))",
                                  user: "client-certificate-data: \(try base64(server.clientCertPath)), client-key-data: \(try base64(server.clientKeyPath))")
        let body = try await client(path).get(servicesPath, query: [("limit", "500")])
        #expect(text(body).contains(#""clusterIP":"10.43.0.12""#))
    }

    @Test func listWithBearerToken() async throws {
        let server = try #require(SharedAPIServer.current)
        let body = try await client(server.kubeconfigToken).get(servicesPath, query: [])
        #expect(text(body).contains("api-gateway"))
        let requests = try server.stats().requests
        #expect(requests.contains { $0.hasPrefix("GET \(servicesPath)") })
    }

    @Test func badTokenIsUnauthorizedWithoutTheToken() async throws {
        let server = try #require(SharedAPIServer.current)
        let dir = try TempDir()
        let path = try kubeconfig(dir, server, cluster: "certificate-authority: \(server.caPath)", user: "token: wr0ng-t0ken")
        let error = await #expect(throws: K8sError.self) { try await client(path).get(servicesPath, query: []) }
        #expect(error?.code == .unauthorized)
        #expect(error?.httpStatus == 401)
        #expect(error?.message.hasPrefix("401 Unauthorized from \(server.url)\(servicesPath): Unauthorized; the credentials of kubeconfig \(path)") == true)
        #expect(error?.message.contains("wr0ng") == false)
    }

    @Test func wrongCAIsTLSError() async throws {
        let server = try #require(SharedAPIServer.current)
        let dir = try TempDir()
        let path = try kubeconfig(dir, server, cluster: "certificate-authority: \(server.otherCAPath)", user: "token: \(server.token)")
        let error = await #expect(throws: K8sError.self) { try await client(path).get(servicesPath, query: []) }
        #expect(error?.code == .tls)
        #expect(error?.message.hasPrefix("TLS handshake with \(server.url) failed: ") == true)
        #expect(error?.message.hasSuffix("; check certificate-authority in \(path)") == true)
        #expect(error?.message.contains(server.token) == false)

        let insecure = try kubeconfig(dir, server, cluster: "certificate-authority: \(server.otherCAPath), insecure-skip-tls-verify: true",
                                      user: "token: \(server.token)")
        _ = try await client(insecure).get(servicesPath, query: [])
    }

    @Test func mismatchedClientKeyIsTLSErrorAboutTheClientCertificate() async throws {
        let server = try #require(SharedAPIServer.current)
        let dir = try TempDir()
        let path = try kubeconfig(dir, server, cluster: "certificate-authority: \(server.caPath)",
                                  user: "client-certificate: \(server.caPath), client-key: \(server.clientKeyPath)")
        let error = await #expect(throws: K8sError.self) { try await client(path).get(servicesPath, query: []) }
        #expect(error?.code == .tls)
        #expect(error?.message.hasSuffix("; check client-certificate and client-key in \(path)") == true)
    }

    @Test func tlsServerNameIsTheNameVerified() async throws {
        let server = try #require(SharedAPIServer.current)
        let dir = try TempDir()
        let good = try kubeconfig(dir, server, cluster: "certificate-authority: \(server.caPath), tls-server-name: localhost",
                                  user: "token: \(server.token)")
        _ = try await client(good).get(servicesPath, query: [])
        let wrong = try kubeconfig(dir, server, cluster: "certificate-authority: \(server.caPath), tls-server-name: kubernetes.invalid",
                                   user: "token: \(server.token)")
        let error = await #expect(throws: K8sError.self) { try await client(wrong).get(servicesPath, query: []) }
        #expect(error?.code == .tls)
        #expect(error?.message.contains("kubernetes.invalid") == true)
        #expect(error?.message.hasSuffix("; check the server address and tls-server-name in \(wrong)") == true)
    }

    @Test func execPluginIsRerunAfter401() async throws {
        let server = try #require(SharedAPIServer.current)
        let fixture = try ExecFixture(expiry: "+1 hour", tokens: ["expired-token", server.token], server: server.url,
                                      extraCluster: ", certificate-authority: \(server.caPath)")
        let credentials = try fixture.credentials()
        let client = APIClient(credentials: credentials)
        _ = try await client.get(servicesPath, query: [])
        #expect(fixture.runs == 2)
        _ = try await client.get(servicesPath, query: [])
        #expect(fixture.runs == 2)   // the fresh token is cached
        let stream = try await client.stream(servicesPath, query: [("watch", "true")], idleTimeout: .seconds(10))
        _ = stream
        #expect(fixture.runs == 2)
    }

    @Test func statusErrorsMapToCodes() async throws {
        let server = try #require(SharedAPIServer.current)
        let client = try client(server.kubeconfigToken)
        try server.fault("status", extra: ["code": 429, "retryAfter": 3, "verb": "list"])
        let busy = await #expect(throws: K8sError.self) { try await client.get(servicesPath, query: []) }
        #expect(busy?.code == .tooManyRequests)
        #expect(busy?.retryAfter == .seconds(3))
        try server.fault("status", extra: ["code": 403, "verb": "list"])
        let forbidden = await #expect(throws: K8sError.self) { try await client.get(servicesPath, query: []) }
        #expect(forbidden?.code == .forbidden)
        #expect(forbidden?.message.contains("grant the user of kubeconfig \(server.kubeconfigToken)") == true)
        try server.fault("status", extra: ["code": 500, "verb": "list"])
        let broken = await #expect(throws: K8sError.self) { try await client.get(servicesPath, query: []) }
        #expect(broken?.code == .server)
        #expect(broken?.httpStatus == 500)
        let missing = await #expect(throws: K8sError.self) { try await client.get("/api/v1/nothing-here", query: []) }
        #expect(missing?.code == .notFound)
    }

    @Test func watchStatusErrorsThrowFromStream() async throws {
        let server = try #require(SharedAPIServer.current)
        let client = try client(server.kubeconfigToken)
        try server.fault("gone-status")
        let gone = await #expect(throws: K8sError.self) {
            _ = try await client.stream(servicesPath, query: [("watch", "true"), ("resourceVersion", "1")], idleTimeout: .seconds(5))
        }
        #expect(gone?.code == .gone)
        try server.fault("status", extra: ["code": 429, "retryAfter": 2, "verb": "watch"])
        let busy = await #expect(throws: K8sError.self) {
            _ = try await client.stream(servicesPath, query: [("watch", "true")], idleTimeout: .seconds(5))
        }
        #expect(busy?.code == .tooManyRequests)
        #expect(busy?.retryAfter == .seconds(2))
    }
}

/// Tests that change the server (faults on open watches, tokens, Services) start one of their own.
@Suite(.serialized) struct TransportServerTests {
    @Test func plainHTTPWithToken() async throws {
        let server = try TestAPIServer(plain: true, services: [api])
        #expect(server.url.hasPrefix("http://"))
        let body = try await client(server.kubeconfigToken).get(servicesPath, query: [])
        #expect(text(body).contains("api-gateway"))
    }

    @Test func tokenFileIsReadAtEveryRequest() async throws {
        let server = try TestAPIServer()
        let dir = try TempDir()
        try dir.write("token", "old-token\n")
        let path = try kubeconfig(dir, server, cluster: "certificate-authority: \(server.caPath)", user: "tokenFile: token")
        let client = try client(path)
        try server.setTokens(["old-token"])
        _ = try await client.get(servicesPath, query: [])
        try server.setTokens(["rotated-token"])
        let stale = await #expect(throws: K8sError.self) { try await client.get(servicesPath, query: []) }
        #expect(stale?.code == .unauthorized)
        try dir.write("token", "rotated-token\n")
        _ = try await client.get(servicesPath, query: [])
    }

    @Test func watchStreamsLines() async throws {
        let server = try TestAPIServer(services: [api])
        let client = try client(server.kubeconfigCert)
        let list = try await client.get(servicesPath, query: [])
        let rv = try #require((try JSONSerialization.jsonObject(with: Data(list)) as? [String: Any])
            .flatMap { ($0["metadata"] as? [String: Any])?["resourceVersion"] as? String })
        var seen: [String] = []
        do {
            // `stream` returns at the head, before any event exists.
            let lines = try await client.stream(servicesPath, query: [("watch", "true"), ("resourceVersion", rv)], idleTimeout: .seconds(10))
            try server.recreate("api-gateway", clusterIP: "10.43.7.3")
            for try await line in lines {
                seen.append(text(line))
                if seen.count == 2 { break }
            }
        }
        try #require(seen.count == 2, "the stream ended after \(seen.count) lines")
        #expect(seen[0].hasPrefix(#"{"type":"DELETED""#))
        #expect(seen[1].hasPrefix(#"{"type":"ADDED""#) && seen[1].contains("10.43.7.3"))
        // The stream was released with the loop's scope, which aborts the transfer; the server sees the close.
        for _ in 0..<100 where try server.stats().openWatches > 0 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try server.stats().openWatches == 0)
    }

    @Test func droppedWatchEndsWithConnectionError() async throws {
        let server = try TestAPIServer()
        let lines = try await client(server.kubeconfigToken).stream(servicesPath, query: [("watch", "true")], idleTimeout: .seconds(10))
        try server.fault("drop")
        let error = await #expect(throws: K8sError.self) { for try await _ in lines {} }
        #expect(error?.code == .connection)
    }

    @Test func stalledWatchTimesOut() async throws {
        let server = try TestAPIServer()
        let lines = try await client(server.kubeconfigToken).stream(servicesPath, query: [("watch", "true")], idleTimeout: .milliseconds(300))
        try server.fault("stall")
        let error = await #expect(throws: K8sError.self) { for try await _ in lines {} }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("no data from \(server.url)\(servicesPath) for 300 ms") == true)
    }

    @Test func cancellingTheConsumerClosesTheWatch() async throws {
        let server = try TestAPIServer()
        let client = try client(server.kubeconfigToken)
        let consumer = Task {
            let lines = try await client.stream(servicesPath, query: [("watch", "true")], idleTimeout: .seconds(30))
            for try await _ in lines {}
        }
        while try server.stats().openWatches == 0 { try await Task.sleep(for: .milliseconds(10)) }
        consumer.cancel()
        // The server polls its watch sockets once a second; give it a few.
        for _ in 0..<100 where try server.stats().openWatches > 0 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try server.stats().openWatches == 0)
    }

    /// Cancelling aborts the curl transfer itself promptly (measured at the transfer, where it happens).
    @Test func cancelStopsTransferPromptly() async throws {
        let server = try TestAPIServer()
        let credentials = try KubeConfigLoader.load(path: server.kubeconfigToken, context: nil, environment: [:])
        let transfer = CurlTransfer()
        try RequestSetup(credentials: credentials, timeouts: APITimeouts())
            .configure(transfer, url: server.url + servicesPath + "?watch=true", refreshExec: false)
        let headed = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        transfer.onHead = { _ in headed.signal() }
        nonisolated(unsafe) var outcome: CurlTransfer.Outcome?
        Thread.detachNewThread {
            outcome = transfer.perform(idleTimeout: .seconds(30))
            finished.signal()
        }
        #expect(headed.wait(timeout: .now() + 10) == .success)
        try await Task.sleep(for: .milliseconds(200))   // the transfer is idle inside curl_multi_poll
        let start = ContinuousClock.now
        transfer.cancel()
        #expect(finished.wait(timeout: .now() + 5) == .success)
        let elapsed = ContinuousClock.now - start
        #expect(outcome == .cancelled)
        // The figure, not an assertion: a test never fails because a machine was slow.
        print("transport: cancel to transfer end \(elapsed)")
    }
}


/// A loopback socket that listens (so connects succeed) but never accepts or answers.
private func silentListener() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else { close(fd); throw POSIXError(.EADDRINUSE) }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// An ephemeral port that nothing listens on right now.
private func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    try withUnsafeMutablePointer(to: &address) { pointer in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            guard bind(fd, $0, length) == 0, getsockname(fd, $0, &length) == 0 else { throw POSIXError(.EADDRINUSE) }
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
