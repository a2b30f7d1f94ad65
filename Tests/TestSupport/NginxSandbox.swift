import Foundation

/// A real nginx in a temporary prefix, run in the foreground (`daemon off;`) as this process's
/// child so that it is always reaped. Everything it writes (pid, logs, temp paths) stays in the
/// prefix; it listens on a free port of a random loopback address (127.X.Y.Z: parallel tests that
/// grab ephemeral ports of 127.0.0.1 never take its port between the pick and nginx's bind). The site is
/// `sites-available/flowmaster`, loaded through the symlink `sites-enabled/flowmaster` by
/// `include sites-enabled/*;`, as on Debian.
public final class NginxSandbox: @unchecked Sendable {
    public let dir: TempDir
    public let port: Int
    public let nginx: String
    private let lock = NSLock()
    private var process: SpawnedProcess?

    public var prefix: String { dir.path }
    public var confPath: String { dir.file("nginx.conf") }
    public var pidFile: String { dir.file("nginx.pid") }
    public var errorLog: String { dir.file("error.log") }
    /// The symlink nginx loads, `sites-enabled/flowmaster`.
    public var sitePath: String { dir.file("sites-enabled/flowmaster") }
    /// Its target, `sites-available/flowmaster`.
    public var siteTarget: String { dir.file("sites-available/flowmaster") }
    /// The loopback address nginx listens on.
    public let host: String
    /// `listen` address for the site: `HOST:PORT`.
    public var listen: String { "\(host):\(port)" }
    /// For the applier: `nginx -t -p PREFIX -c {config}`.
    public var checkCommand: String { "\(nginx) -t -p \(prefix)/ -c {config}" }
    public var reloadCommand: String { "\(nginx) -p \(prefix)/ -c \(confPath) -s reload" }

    /// `site` gets the listen address (`HOST:PORT`) and returns the site file's text;
    /// `httpInclude` is the main config's include inside `http {}`.
    public init(site: (_ listen: String) -> String, httpInclude: String = "sites-enabled/*",
                label: String = "nginx-sandbox") throws {
        guard let nginx = findExecutable("nginx") else { throw SandboxError("nginx is not installed (Debian: nginx-light)") }
        self.nginx = nginx
        dir = try TempDir(label)
        host = Backend.randomLoopbackHost()
        port = try freePort(host: host)
        try dir.write("nginx.conf", Self.mainConfig(prefix: dir.path, include: httpInclude))
        try FileManager.default.createDirectory(atPath: dir.file("tmp"), withIntermediateDirectories: true)
        try dir.write("sites-available/flowmaster", site("\(host):\(port)"))
        try FileManager.default.createDirectory(atPath: dir.file("sites-enabled"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: sitePath, withDestinationPath: "../sites-available/flowmaster")
    }

    /// A site with one server on `listen` proxying `/` to `http://BACKEND`.
    public static func proxySite(listen: String, backend: String) -> String {
        """
        # flowmaster (test)
        server {
            listen \(listen);
            location / {
                proxy_pass http://\(backend);
            }
        }

        """
    }

    static func mainConfig(prefix: String, include: String) -> String {
        let user = geteuid() == 0 ? "user root;\n" : ""
        return """
        \(user)worker_processes 1;
        daemon off;
        pid \(prefix)/nginx.pid;
        error_log \(prefix)/error.log;
        events {}
        http {
            access_log \(prefix)/access.log;
            client_body_temp_path \(prefix)/tmp/body;
            proxy_temp_path \(prefix)/tmp/proxy;
            fastcgi_temp_path \(prefix)/tmp/fastcgi;
            uwsgi_temp_path \(prefix)/tmp/uwsgi;
            scgi_temp_path \(prefix)/tmp/scgi;
            include \(include);
        }

        """
    }

    /// Starts nginx and waits until its master has a worker and the port accepts connections.
    public func start() throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let process = try SpawnedProcess(nginx, ["-p", prefix + "/", "-c", confPath, "-e", errorLog], environment: nil,
                                         stdin: null, stdout: null, stderr: null)
        lock.withLock { self.process = process }
        for _ in 0..<1000 {
            if process.poll() != nil {
                throw SandboxError("nginx exited at start: " + ((try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""))
            }
            if !workerPids.isEmpty && canConnect(host: host, port: port) { return }
            usleep(10_000)
        }
        throw SandboxError("nginx did not start listening on \(listen) within 10 s")
    }

    /// SIGQUIT (graceful), then SIGTERM and SIGKILL if it lingers; the master is reaped, stray workers killed.
    public func stop() {
        guard let process = lock.withLock({ () -> SpawnedProcess? in defer { self.process = nil }; return self.process }) else { return }
        let master = process.pid
        let workers = processChildren(of: master)
        for (signal, tries) in [(SIGQUIT, 300), (SIGTERM, 200), (SIGKILL, 200)] where process.poll() == nil {
            kill(master, signal)
            for _ in 0..<tries where process.poll() == nil { usleep(10_000) }
        }
        _ = process.wait(timeout: 3600)
        for worker in workers { kill(worker, SIGKILL) }
    }

    public var masterPid: pid_t? { lock.withLock { process?.pid } }

    /// The master's live children (its workers).
    public var workerPids: Set<pid_t> {
        guard let master = masterPid else { return [] }
        return processChildren(of: master)
    }

    /// GET through nginx: (status, body).
    public func get(_ path: String) throws -> (status: Int, body: String) {
        try httpGet(host: host, port: port, path: path)
    }

    /// GETs `path` until the body contains `text` (at most `attempts` GETs, 20 ms apart): old workers
    /// may still serve a connection accepted before a reload reached them. Each GET runs off the pool.
    public func eventuallyGet(_ path: String, contains text: String, attempts: Int = 250) async -> (status: Int, body: String)? {
        var last: (status: Int, body: String)?
        for _ in 0..<attempts {
            last = try? await blocking { try get(path) }
            if let last, last.body.contains(text) { return last }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return last
    }

    deinit { stop() }
}

public struct SandboxError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Live children of `parent`, from `/proc/*/stat` (field 4 is the ppid; comm may hold spaces).
public func processChildren(of parent: pid_t) -> Set<pid_t> {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    var found: Set<pid_t> = []
    for entry in entries {
        guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 2, fields[0] != "Z", pid_t(fields[1]) == parent { found.insert(pid) }
    }
    return found
}

/// Whether `pid` is alive (a zombie counts as gone: it only waits for its parent to reap it).
public func processIsAlive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

/// A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released).
public func freePort(host: String = "127.0.0.1") throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SandboxError("socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddrIn(host: host, port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw SandboxError("bind: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

func sockaddrIn(host: String, port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    inet_pton(AF_INET, host, &address.sin_addr)
    return address
}

private func connectSocket(host: String, port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddrIn(host: host, port: port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { close(fd); return nil }
    return fd
}

public func canConnect(host: String, port: Int) -> Bool {
    guard let fd = connectSocket(host: host, port: port) else { return false }
    close(fd)
    return true
}

/// A minimal HTTP/1.0 GET over a socket: (status, body).
public func httpGet(host: String, port: Int, path: String) throws -> (status: Int, body: String) {
    guard let fd = connectSocket(host: host, port: port) else { throw SandboxError("cannot connect to \(host):\(port)") }
    defer { close(fd) }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
        throw SandboxError("send to \(host):\(port) failed: errno \(errno)")
    }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 { response.append(contentsOf: chunk[0..<count]); continue }
        if count < 0 && errno == EINTR { continue }
        break
    }
    let text = String(decoding: response, as: UTF8.self)
    let parts = text.components(separatedBy: "\r\n\r\n")
    let statusLine = parts.first?.split(separator: "\r\n").first ?? ""
    let fields = statusLine.split(separator: " ")
    guard fields.count >= 2, let status = Int(fields[1]) else { throw SandboxError("no HTTP response from \(host):\(port)") }
    return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
}
