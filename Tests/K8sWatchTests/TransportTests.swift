import Foundation
import Testing
import TestSupport
@testable import K8sWatch

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

    @Test func refusedConnectionIsConnectionError() async throws {
        // A port that was free a moment ago: bind, read the port, close.
        let port = try freePort()
        let client = APIClient(credentials: ClusterCredentials(server: "http://127.0.0.1:\(port)"))
        let error = await #expect(throws: K8sError.self) { try await client.get("/api/v1/namespaces/x/services", query: []) }
        #expect(error?.code == .connection)
        #expect(error?.message.hasPrefix("cannot connect to http://127.0.0.1:\(port):") == true)
    }
}

/// An ephemeral port that nothing listens on right now.
func freePort() throws -> Int {
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
