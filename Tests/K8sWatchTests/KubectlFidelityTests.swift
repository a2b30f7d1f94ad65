import Foundation
import Testing
import TestSupport

/// Proves that the test API server speaks Kubernetes as the real client sees it: kubectl's
/// discovery, server-side Tables, JSON lists and watches all work against it.
@Suite("KubectlFidelity")
struct KubectlFidelityTests {
    static let services = [
        ServiceSpec("api-gateway", clusterIP: "10.43.0.12", ports: [.init(name: "http", port: 9000)]),
        ServiceSpec("frontend-nextjs", clusterIP: "10.43.0.20",
                    ports: [.init(name: "http", port: 80), .init(name: "https", port: 443)]),
        ServiceSpec("websocket-gateway", clusterIP: "10.43.0.30",
                    ports: [.init(name: "ws", port: 8080, nodePort: 30080)], type: "NodePort"),
        ServiceSpec("legacy-db", clusterIP: nil, ports: [], type: "ExternalName", externalName: "db.example.com"),
        ServiceSpec("workers", clusterIP: "None"),
    ]

    /// kubectl with a kubeconfig of the server and a fresh cache and HOME, so nothing outside the temp dir is read or written.
    struct Kubectl: Sendable {
        let path: String
        let home: TempDir
        let environment: [String: String]

        init(kubeconfig: String) throws {
            guard let path = findExecutable("kubectl") else {
                // Not a silent pass: CI installs kubectl, and without it the server's fidelity is unproven.
                throw TestAPIServerError("kubectl not found in PATH: install it (Debian: kubernetes-client) "
                    + "to run the kubectl fidelity tests")
            }
            self.path = path
            home = try TempDir("ipsyncd-kubectl")
            environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                           "HOME": home.path, "KUBECONFIG": kubeconfig, "KUBECACHEDIR": home.file("cache")]
        }

        func run(_ arguments: [String]) async throws -> ProcessResult {
            let result = try await attempt(arguments)
            #expect(result.status == 0, "kubectl \(arguments.joined(separator: " ")) failed: \(result.stderr)")
            return result
        }

        /// kubectl's result, whatever its exit status.
        func attempt(_ arguments: [String]) async throws -> ProcessResult {
            let (path, environment) = (path, environment)
            return try await blocking { try runProcess(path, ["--request-timeout=20s"] + arguments, environment: environment) }
        }
    }

    static func rows(_ output: String) -> [[String]] {
        output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
    }

    static func row(_ rows: [[String]], _ name: String) -> [String]? { rows.first { $0.first == name } }

    @Test func getPrintsTheServerSideTable() async throws {
        let server = try await TestAPIServer.start(services: Self.services)
        let kubectl = try Kubectl(kubeconfig: server.kubeconfigCert)
        let rows = Self.rows(try await kubectl.run(["get", "svc", "-n", "flowmaster"]).stdout)
        #expect(rows.first == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"])
        #expect(rows.count == 6)
        #expect(Self.row(rows, "api-gateway")?.prefix(5) == ["api-gateway", "ClusterIP", "10.43.0.12", "<none>", "9000/TCP"])
        #expect(Self.row(rows, "frontend-nextjs")?.prefix(5)
                == ["frontend-nextjs", "ClusterIP", "10.43.0.20", "<none>", "80/TCP,443/TCP"])
        #expect(Self.row(rows, "websocket-gateway")?.prefix(5)
                == ["websocket-gateway", "NodePort", "10.43.0.30", "<none>", "8080:30080/TCP"])
        #expect(Self.row(rows, "legacy-db")?.prefix(5) == ["legacy-db", "ExternalName", "<none>", "db.example.com", "<none>"])
        #expect(Self.row(rows, "workers")?.prefix(3) == ["workers", "ClusterIP", "None"])
        let age = try #require(Self.row(rows, "api-gateway")?.last)
        // kubectl's human duration: "45s", "3m", or "2m30s" between 2 and 10 minutes (a slow run gets there).
        #expect(age.wholeMatch(of: /[0-9]+s|[0-9]+m([0-9]+s)?/) != nil, "age \(age)")
        // kubectl asked for a Table on its paged list (the header shows that it got one: a client-side
        // fallback would print only NAME and AGE).
        #expect(try server.stats().requests.contains { $0.hasPrefix("GET /api/v1/namespaces/flowmaster/services?limit=500") })

        let wide = Self.rows(try await kubectl.run(["get", "svc", "-n", "flowmaster", "-o", "wide"]).stdout)
        #expect(wide.first?.last == "SELECTOR")
        #expect(Self.row(wide, "api-gateway")?.last == "app=api-gateway")
    }

    @Test func getJSONGivesAListWithKinds() async throws {
        let server = try await TestAPIServer.start(services: Self.services)
        let kubectl = try Kubectl(kubeconfig: server.kubeconfigCert)
        let output = try await kubectl.run(["get", "svc", "-n", "flowmaster", "-o", "json"]).stdout
        let list = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(list["kind"] as? String == "List")
        let items = try #require(list["items"] as? [[String: Any]])
        #expect(items.count == 5)
        #expect(items.allSatisfy { $0["kind"] as? String == "Service" && $0["apiVersion"] as? String == "v1" })
        let api = try #require(items.first { ($0["metadata"] as? [String: Any])?["name"] as? String == "api-gateway" })
        let spec = try #require(api["spec"] as? [String: Any])
        #expect(spec["clusterIP"] as? String == "10.43.0.12")
        #expect((spec["ports"] as? [[String: Any]])?.first?["port"] as? Int == 9000)
    }

    @Test func watchShowsARecreate() async throws {
        let server = try await TestAPIServer.start(services: Self.services)
        let kubectl = try Kubectl(kubeconfig: server.kubeconfigCert)
        let watch = try StreamingProcess(kubectl.path, ["get", "svc", "-n", "flowmaster", "--watch"],
                                         environment: kubectl.environment)
        defer { watch.stop() }
        #expect(await watch.line { $0.hasPrefix("workers ") } != nil, "kubectl printed no list: \(watch.stderr)")
        let deadline = Date().addingTimeInterval(15)
        while try server.stats().openWatches < 1 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try server.recreate("api-gateway", clusterIP: "10.43.7.3")
        let line = try #require(await watch.line { $0.contains("10.43.7.3") }, "lines: \(watch.lines) \(watch.stderr)")
        #expect(Self.rows(line).first?.prefix(5) == ["api-gateway", "ClusterIP", "10.43.7.3", "<none>", "9000/TCP"])
        // The watch's Table rows continue the list's columns: one header only.
        #expect(watch.lines.filter { $0.hasPrefix("NAME ") }.count == 1)
        #expect(try server.stats().requests.contains { $0.contains("watch=true") && $0.contains("resourceVersion=") })
    }

    @Test func tokenKubeconfigWorks() async throws {
        let server = try await TestAPIServer.start(services: Self.services)
        let kubectl = try Kubectl(kubeconfig: server.kubeconfigToken)
        let rows = Self.rows(try await kubectl.run(["get", "svc", "api-gateway"]).stdout)  // namespace from the context
        #expect(Self.row(rows, "api-gateway")?.prefix(3) == ["api-gateway", "ClusterIP", "10.43.0.12"])
        let version = try await kubectl.run(["version", "-o", "json"]).stdout
        #expect(version.contains("\"serverVersion\""))

        // The watch's event types, as kubectl decodes them: the recreate is DELETED (old address), then ADDED.
        let watch = try StreamingProcess(kubectl.path, ["get", "svc", "--watch", "--output-watch-events"],
                                         environment: kubectl.environment)
        defer { watch.stop() }
        #expect(await watch.line { $0.hasPrefix("ADDED ") && $0.contains(" workers ") } != nil, "\(watch.stderr)")
        let deadline = Date().addingTimeInterval(15)
        while try server.stats().openWatches < 1 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try server.recreate("api-gateway", clusterIP: "10.43.7.3")
        try server.update("workers", extra: ["selector": ["app": "workers", "tier": "batch"]])
        #expect(await watch.line { $0.hasPrefix("MODIFIED ") } != nil, "\(watch.lines) \(watch.stderr)")
        let events = Self.rows(watch.lines.joined(separator: "\n")).filter { $0.count > 3 && $0[0] != "EVENT" }
        let changes = events.dropFirst(Self.services.count).map { Array($0.prefix(4)) }
        #expect(changes == [["DELETED", "api-gateway", "ClusterIP", "10.43.0.12"],
                            ["ADDED", "api-gateway", "ClusterIP", "10.43.7.3"],
                            ["MODIFIED", "workers", "ClusterIP", "None"]])
    }

    @Test func kubectlSeesAuthFailures() async throws {
        let server = try await TestAPIServer.start(services: Self.services)
        let kubectl = try Kubectl(kubeconfig: server.kubeconfigToken)
        try server.setTokens(["someone-else"])
        let result = try await kubectl.attempt(["get", "svc"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("Unauthorized") || result.stderr.contains("provide credentials"), "\(result.stderr)")
    }
}
