import Foundation
import Synchronization

import Glibc

/// A TCP relay on 127.0.0.1 in front of the test API server, for faults the server cannot make by
/// itself: stopping it takes the API "down" (connections refused, open ones cut) while the server
/// keeps its Services and resourceVersions, and starting it again on the same port brings it back.
/// With `tls`, it terminates TLS with the given certificate (one from another CA) and speaks TLS to
/// the server behind it, so the client sees a server certificate it must not trust.
/// Python's standard library, run as this process's child; always killed and reaped.
public final class APIRelay: @unchecked Sendable {
    public let port: Int
    private let child: SpawnedProcess

    private static let script = """
    import select, socket, ssl, sys, threading
    port, upstream = int(sys.argv[1]), int(sys.argv[2])
    tls = len(sys.argv) > 4
    reset = sys.argv[3] == "reset" if len(sys.argv) == 4 else False
    if tls:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)

    def relay(conn):
        # One thread owns both sockets (an SSL socket must not be used from two threads).
        up = None
        try:
            up = socket.create_connection(("127.0.0.1", upstream))
            if tls:
                conn = server_ctx.wrap_socket(conn, server_side=True)
                up = client_ctx.wrap_socket(up)
            peers = {conn: up, up: conn}
            while True:
                ready = [s for s in peers if tls and s.pending()]
                if not ready:
                    ready, _, _ = select.select(list(peers), [], [])
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ssl.SSLError):
            pass
        finally:
            for s in (conn, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    while True:
        conn, _ = listener.accept()
        if reset:
            # Read the ClientHello, then reset: a server that dies during the TLS handshake.
            conn.settimeout(5)
            try:
                conn.recv(4096)
            except OSError:
                pass
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00")
            conn.close()
            continue
        threading.Thread(target=relay, args=(conn,), daemon=True).start()
    """

    /// Relays `port` (0: a free one) to `upstreamPort`; `tls` is a certificate and key to present.
    /// `resetting`: every connection is reset once the client's first bytes arrive (no relaying).
    public init(port: Int = 0, upstreamPort: Int, tls: (certificate: String, key: String)? = nil,
                resetting: Bool = false) throws {
        guard let python = findExecutable("python3") else { throw SandboxError("python3 is not installed") }
        var arguments = ["-c", Self.script, String(port), String(upstreamPort)]
        if let tls { arguments += [tls.certificate, tls.key] } else if resetting { arguments.append("reset") }
        let out = try SpawnedProcess.pipe()
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        PortGuard.release(port)   // a stopped relay's port, started again
        do {
            defer { close(null); close(out.write) }
            child = try SpawnedProcess(python, arguments, environment: nil, stdin: null, stdout: out.write, stderr: null)
        } catch {
            close(out.read)
            throw error
        }
        defer { close(out.read) }
        // The first line is the bound port; EOF first means the relay could not bind.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(out.read, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        guard let bound = Int(String(decoding: line, as: UTF8.self)) else {
            child.terminate()
            throw SandboxError("API relay did not start on port \(port)")
        }
        self.port = bound
    }

    /// SIGKILL: every open connection dies with it; reaped. The port stays this relay's (connections to it are
    /// refused) until a relay starts on it again: another test's server must not answer in its place.
    public func stop() {
        end()
        PortGuard.hold(port)
    }

    private func end() {
        if child.poll() == nil { kill(child.pid, SIGKILL) }
        child.terminate()
    }

    deinit { end() }
}

/// The ports of stopped relays, each held by a bound socket that does not listen: a connect is refused as if
/// nothing were there, and no other server of the test run (they bind port 0) is given the port meanwhile.
private enum PortGuard {
    private static let held = Mutex<[Int: Int32]>([:])

    static func hold(_ port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { close(fd); return }
        held.withLock { held in
            if let old = held[port] { close(old) }
            held[port] = fd
        }
    }

    static func release(_ port: Int) {
        guard port != 0, let fd = held.withLock({ $0.removeValue(forKey: port) }) else { return }
        close(fd)
    }
}

extension TestAPIServer {
    /// The API's port, from `url`.
    public var port: Int { URLComponents(string: url)?.port ?? 0 }
}
