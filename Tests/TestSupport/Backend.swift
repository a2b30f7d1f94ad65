import Foundation

/// A tiny HTTP server on a loopback address (`127.0.0.12`: all of 127/8 is loopback on Linux)
/// that answers every request with 200 and `backend NAME`; it stands for a Service's ClusterIP.
/// Python's `http.server`, run as this process's child; port 0 picks a free port.
public final class Backend: @unchecked Sendable {
    public let name: String
    public let host: String
    public let port: Int
    private let process: SpawnedProcess

    /// `host:port`, as a site's `proxy_pass` names it.
    public var address: String { "\(host):\(port)" }
    public var body: String { "backend \(name)" }

    private static let script = """
    import http.server, sys
    host, port, body = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer((host, port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """

    public init(name: String, host: String = Backend.randomLoopbackHost(), port: Int = 0) throws {
        guard let python = findExecutable("python3") else { throw SandboxError("python3 is not installed") }
        self.name = name
        self.host = host
        let out = try SpawnedProcess.pipe()
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null); close(out.read) }
        do {
            defer { close(out.write) }
            process = try SpawnedProcess(python, ["-c", Self.script, host, String(port), "backend \(name)"], environment: nil,
                                         stdin: null, stdout: out.write, stderr: null)
        }
        // The first line is the bound port; EOF first means the server failed to start.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(out.read, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        guard let bound = Int(String(decoding: line, as: UTF8.self)) else {
            process.terminate(grace: 0)
            throw SandboxError("backend \(name) did not start on \(host):\(port)")
        }
        self.port = bound
    }

    /// 127.X.Y.Z with random X, Y, Z (never 127.0.0.1), so that parallel tests do not meet.
    public static func randomLoopbackHost() -> String {
        "127.\(Int.random(in: 1...254)).\(Int.random(in: 0...255)).\(Int.random(in: 1...254))"
    }

    /// Stops and reaps the server (idempotent).
    public func stop() { process.terminate(grace: 2) }

    deinit { stop() }
}
