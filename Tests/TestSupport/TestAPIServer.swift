import Foundation

import Glibc

/// One port of a Service given to the test API server (`spec.ports[]`).
public struct ServicePortSpec: Sendable, Hashable {
    public var name: String?
    public var port: Int
    public var protocolName: String
    public var targetPort: Int?
    public var nodePort: Int?

    public init(name: String? = nil, port: Int, protocolName: String = "TCP", targetPort: Int? = nil, nodePort: Int? = nil) {
        self.name = name
        self.port = port
        self.protocolName = protocolName
        self.targetPort = targetPort
        self.nodePort = nodePort
    }

    var json: [String: Any] {
        var out: [String: Any] = ["port": port, "protocol": protocolName]
        if let name { out["name"] = name }
        if let targetPort { out["targetPort"] = targetPort }
        if let nodePort { out["nodePort"] = nodePort }
        return out
    }
}

/// A Service the test API server holds from the start (see `TestAPIServer.init`).
/// `clusterIP` may be any string (`"None"` for headless, invalid values for negative tests);
/// nil leaves it out (ExternalName).
public struct ServiceSpec: Sendable, Hashable {
    public var name: String
    public var clusterIP: String?
    public var ports: [ServicePortSpec]
    public var type: String
    public var externalName: String?
    public var labels: [String: String]?

    public init(_ name: String, clusterIP: String?, ports: [ServicePortSpec] = [.init(name: "http", port: 80)],
                type: String = "ClusterIP", externalName: String? = nil, labels: [String: String]? = nil) {
        self.name = name
        self.clusterIP = clusterIP
        self.ports = ports
        self.type = type
        self.externalName = externalName
        self.labels = labels
    }

    var json: [String: Any] {
        var out: [String: Any] = ["name": name, "type": type, "ports": ports.map(\.json)]
        if let clusterIP { out["clusterIP"] = clusterIP }
        if let externalName { out["externalName"] = externalName }
        if let labels { out["labels"] = labels }
        return out
    }
}

/// Why the test API server could not start or a control call failed.
public struct TestAPIServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The test Kubernetes API server (`Tests/Fixtures/apiserver/apiserver.py`) as a child process.
///
/// Each instance has its own temp directory with a CA, server and client certificates (made once
/// per test process and copied), its own bearer token and two kubeconfigs, and listens on
/// ephemeral loopback ports. The server stops
/// when `stop()` is called or the value is released, and also by itself if this process dies
/// (it watches its stdin, which only this object holds open).
public final class TestAPIServer: @unchecked Sendable {
    /// What a mutating control call answers: the resourceVersion it produced and `time.time_ns()`
    /// at the moment the event was handed to the open watches (for latency measurements).
    public struct Emitted: Sendable, Equatable {
        public var resourceVersion: String
        public var emittedAtNs: UInt64
    }

    /// The server's counters since start or the last `resetStats()`. `lists` and `watches` count
    /// every list or watch request of Services, answered or refused; `requests` holds the last 200
    /// API request lines with their query strings ("GET /api/v1/...?watch=true&...").
    public struct Stats: Sendable, Equatable {
        public var lists: Int
        public var watches: Int
        public var openWatches: Int
        public var resourceVersion: String
        public var requests: [String]
    }

    /// The API server's base URL, `https://127.0.0.1:PORT` (`http://` when plain, `[::1]` for IPv6).
    public let url: String
    /// The control interface's base URL, `http://127.0.0.1:PORT`.
    public let controlURL: String
    /// The directory holding certificates, keys, token and kubeconfigs.
    public let dir: String
    /// kubeconfig with the client certificate and key (relative paths) and the CA by path.
    public var kubeconfigCert: String { file("kubeconfig-cert.yaml") }
    /// kubeconfig with the bearer token inline and the CA as `certificate-authority-data`.
    public var kubeconfigToken: String { file("kubeconfig-token.yaml") }
    /// The CA that signed the server and client certificates.
    public var caPath: String { file("ca.crt") }
    /// An unrelated CA, for wrong-CA tests.
    public var otherCAPath: String { file("other-ca.crt") }
    public var clientCertPath: String { file("client.crt") }
    public var clientKeyPath: String { file("client.key") }
    /// The bearer token the server accepts at start (see `setTokens`).
    public let token: String

    private let tempDir: TempDir
    private let process: SpawnedProcess
    private let stdinFD: Int32              // only this object holds the write end: closing it stops the server
    private let stdoutKeeper: FileHandle    // kept open so that the server never writes into a closed pipe
    private let controlPort: UInt16
    private let lock = NSLock()
    private var stopped = false

    /// Starts the server (python3 from PATH) and waits for its ready line.
    /// - Parameters:
    ///   - plain: serve HTTP instead of HTTPS (bearer token auth only).
    ///   - namespace: the namespace that holds the Services and the kubeconfigs' context namespace.
    ///   - services: Services present from the start, with resourceVersions before any test's events.
    ///   - history: how many events are kept for watches from an older resourceVersion (older → 410).
    ///   - host: the API's listening address, `"::1"` for IPv6 (`url` then reads `https://[::1]:PORT`);
    ///     the control interface stays on 127.0.0.1.
    public init(plain: Bool = false, namespace: String = "flowmaster", services: [ServiceSpec] = [],
                history: Int = 1000, host: String = "127.0.0.1") throws {
        guard let python = Self.python else {
            throw TestAPIServerError("python3 not found in PATH: the test API server needs it")
        }
        tempDir = try TempDir("ipsyncd-apiserver")
        dir = tempDir.path
        var arguments = [fixturePath("apiserver/apiserver.py"), "--dir", dir, "--namespace", namespace,
                         "--history", String(history), "--pki-cache", Self.pkiCache, "--host", host]
        if plain { arguments.append("--plain") }
        if !services.isEmpty {
            let data = try JSONSerialization.data(withJSONObject: services.map(\.json))
            arguments += ["--services", try tempDir.write("services.json", Array(data))]
        }
        let logPath = tempDir.file("server.log")
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let input = try SpawnedProcess.pipe(), output = try SpawnedProcess.pipe()
        let child: SpawnedProcess
        do {
            defer { close(logFD); close(input.read); close(output.write) }
            child = try SpawnedProcess(python, ["-u", "-B"] + arguments, environment: nil,
                                       stdin: input.read, stdout: output.write, stderr: logFD)
        } catch {
            close(input.write); close(output.read)
            throw error
        }
        let stdoutHandle = FileHandle(fileDescriptor: output.read, closeOnDealloc: true)
        let line = Self.readLine(stdoutHandle, timeout: 60)
        func failure(_ what: String) -> TestAPIServerError {
            close(input.write)
            child.terminate()
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return TestAPIServerError("test API server \(what); its stderr:\n\(log)")
        }
        guard let line else { throw failure("did not become ready within 60 s") }
        guard let ready = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let url = ready["url"] as? String, let control = ready["control"] as? String,
              let port = URLComponents(string: control)?.port
        else { throw failure("printed an unexpected ready line: \(line)") }
        process = child
        stdinFD = input.write
        stdoutKeeper = stdoutHandle
        self.url = url
        controlURL = control
        controlPort = UInt16(port)
        token = ((try? String(contentsOfFile: tempDir.file("token"), encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `init` off Swift's cooperative thread pool: use this from async tests, so that the wait for
    /// the server does not hold one of the pool's few threads.
    public static func start(plain: Bool = false, namespace: String = "flowmaster", services: [ServiceSpec] = [],
                             history: Int = 1000, host: String = "127.0.0.1") async throws -> TestAPIServer {
        try await blocking {
            try TestAPIServer(plain: plain, namespace: namespace, services: services, history: history, host: host)
        }
    }

    deinit { stop() }

    /// Stops the server: closes its stdin, SIGTERM, SIGKILL after 2 s; always reaped. Idempotent.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return }
        stopped = true
        close(stdinFD)
        process.terminate()
    }

    /// The server's stderr so far (Python tracebacks end up here), for failure messages.
    public var log: String { (try? String(contentsOfFile: file("server.log"), encoding: .utf8)) ?? "" }

    private func file(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    // MARK: Services

    /// Creates a Service (ADDED). Fails if the name exists.
    @discardableResult
    public func create(_ name: String, clusterIP: String?, ports: [ServicePortSpec] = [.init(name: "http", port: 80)],
                       type: String = "ClusterIP", externalName: String? = nil) throws -> Emitted {
        try emitted("POST", "/control/services",
                    ServiceSpec(name, clusterIP: clusterIP, ports: ports, type: type, externalName: externalName).json)
    }

    /// Replaces the given spec fields of a Service (MODIFIED); nil leaves a field as it is.
    /// `extra` adds raw spec fields (`clusterIPs`, `selector`, `externalIPs`, `labels`).
    @discardableResult
    public func update(_ name: String, clusterIP: String? = nil, ports: [ServicePortSpec]? = nil, type: String? = nil,
                       externalName: String? = nil, extra: [String: Any] = [:]) throws -> Emitted {
        var body = extra
        if let clusterIP { body["clusterIP"] = clusterIP }
        if let ports { body["ports"] = ports.map(\.json) }
        if let type { body["type"] = type }
        if let externalName { body["externalName"] = externalName }
        return try emitted("PUT", "/control/services/\(name)", body)
    }

    /// Deletes a Service (DELETED).
    @discardableResult
    public func delete(_ name: String) throws -> Emitted {
        try emitted("DELETE", "/control/services/\(name)", [:])
    }

    /// Deletes and creates a Service again with a new ClusterIP: DELETED, `gapMs` of quiet, ADDED.
    /// Answers the ADDED event's resourceVersion and emission time.
    @discardableResult
    public func recreate(_ name: String, clusterIP: String, gapMs: Int = 0) throws -> Emitted {
        try emitted("POST", "/control/recreate/\(name)", ["clusterIP": clusterIP, "gapMs": gapMs])
    }

    /// Creates `count` Services named `prefix-0` … with distinct ClusterIPs (ports http 80, https 443).
    @discardableResult
    public func bulk(prefix: String, count: Int) throws -> Emitted {
        try emitted("POST", "/control/bulk", ["prefix": prefix, "count": count])
    }

    // MARK: Faults and settings

    /// Injects a fault. Kinds: `drop` (cut every open watch, no final chunk), `gone-event` (next `count`
    /// watches: 200 then an ERROR 410 event), `gone-status` (next `count` watches: HTTP 410),
    /// `status` (next `count` requests answered with `extra["code"]` 500/429/403/401/503, optional
    /// `extra["retryAfter"]` seconds, `extra["verb"]` "list"/"watch"/"any"), `malformed` (one garbage
    /// line on open watches), `stall` / `unstall` (open watches send nothing, not even bookmarks),
    /// `compact` (forget history: any older resourceVersion gets 410), `clear` (cancel pending faults).
    @discardableResult
    public func fault(_ kind: String, count: Int = 1, extra: [String: Any] = [:]) throws -> Emitted {
        var body = extra
        body["kind"] = kind
        body["count"] = count
        return try emitted("POST", "/control/fault", body)
    }

    /// Sets the bearer tokens the server accepts (the initial `token` is dropped unless listed).
    public func setTokens(_ tokens: [String]) throws {
        _ = try call("POST", "/control/tokens", ["tokens": tokens])
    }

    /// Sets how often watches with `allowWatchBookmarks=true` get a BOOKMARK (default 60 s); open watches follow at once.
    public func setBookmarkInterval(ms: Int) throws {
        _ = try call("POST", "/control/bookmarks", ["intervalMs": ms])
    }

    /// The server's counters (see `Stats`).
    public func stats() throws -> Stats {
        let body = try call("GET", "/control/stats", nil)
        return Stats(lists: body["lists"] as? Int ?? -1, watches: body["watches"] as? Int ?? -1,
                     openWatches: body["openWatches"] as? Int ?? -1,
                     resourceVersion: body["resourceVersion"] as? String ?? "",
                     requests: body["requests"] as? [String] ?? [])
    }

    /// Zeroes `lists` and `watches` and forgets the request lines.
    public func resetStats() throws {
        _ = try call("POST", "/control/reset-stats", [:])
    }

    // MARK: Control plumbing

    private func emitted(_ method: String, _ path: String, _ body: [String: Any]) throws -> Emitted {
        let answer = try call(method, path, body)
        guard let rv = answer["resourceVersion"] as? String, let at = answer["emittedAtNs"] as? NSNumber else {
            throw TestAPIServerError("control \(method) \(path): unexpected answer \(answer)")
        }
        return Emitted(resourceVersion: rv, emittedAtNs: at.uint64Value)
    }

    private func call(_ method: String, _ path: String, _ body: [String: Any]?) throws -> [String: Any] {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let (status, data) = try ControlClient.request(port: controlPort, method: method, path: path, body: Array(payload))
        let json = (try? JSONSerialization.jsonObject(with: Data(data))) as? [String: Any]
        guard status == 200, let json else {
            throw TestAPIServerError("control \(method) \(path) failed (\(status)): \(String(decoding: data, as: UTF8.self))")
        }
        return json
    }

    // MARK: Process plumbing

    /// The interpreter behind `python3` in PATH, resolved once: a version manager's shim costs a
    /// shell script per start, and tests start many servers.
    private static let python: String? = findExecutable("python3").map { shim in
        guard let result = try? runProcess(shim, ["-c", "import sys; print(sys.executable)"]), result.status == 0 else {
            return shim
        }
        let real = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return FileManager.default.isExecutableFile(atPath: real) ? real : shim
    }

    /// Certificates are made once per test process into this directory and copied into each
    /// server's own directory (openssl is most of a server's start-up time); removed at exit.
    private static let pkiCache: String = {
        atexit { try? FileManager.default.removeItem(atPath: TestAPIServer.pkiCachePath) }
        return pkiCachePath
    }()
    private static var pkiCachePath: String { NSTemporaryDirectory() + "/ipsyncd-apiserver-pki-\(getpid())" }

    /// Reads up to the first newline, or nil when EOF or the timeout comes first.
    private static func readLine(_ handle: FileHandle, timeout: Double) -> String? {
        final class Box: @unchecked Sendable { var line: String? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var bytes: [UInt8] = []
            while !bytes.contains(UInt8(ascii: "\n")) {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                bytes += chunk
            }
            if let end = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                box.line = String(decoding: bytes[..<end], as: UTF8.self)
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        return box.line
    }
}

/// A minimal HTTP/1.1 client for the control port (loopback, `Connection: close`, one request per socket).
enum ControlClient {
    static func request(port: UInt16, method: String, path: String, body: [UInt8]) throws -> (Int, [UInt8]) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestAPIServerError("control: socket() failed: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestAPIServerError("control: connect to port \(port) failed: errno \(errno)") }
        let head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let request = Array(head.utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestAPIServerError("control: send failed: errno \(errno)") }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw TestAPIServerError("control: recv failed: errno \(errno)") }
            response += buffer[..<n]
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let split = (0...max(0, response.count - 4)).first(where: { Array(response[$0..<min($0 + 4, response.count)]) == separator }),
              let statusLine = String(decoding: response[..<split], as: UTF8.self).split(separator: "\r\n").first,
              let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw TestAPIServerError("control: malformed response \(String(decoding: response, as: UTF8.self))") }
        return (status, Array(response[(split + 4)...]))
    }
}
