import Testing
import NginxConf

@Suite struct TargetTests {
    static func file(_ text: String) throws -> ConfigFile { try ConfigFile.parse(Array(text.utf8), path: "site.conf") }

    @Test func directProxyPassKeepsSchemeAndURI() throws {
        let text = "server {\n  location /api/ {\n    proxy_pass https://10.43.0.12:9000/api/v1;\n  }\n}\n"
        let targets = try Self.file(text).targets(route: "/api/").get()
        try #require(targets.count == 1)
        let t = targets[0]
        #expect(t.kind == .proxyPass && t.route == "/api/" && t.address == "10.43.0.12:9000" && t.scheme == "https")
        #expect(t.line == 3 && t.column == 24)
        #expect(Array(text.utf8)[t.byteRange].elementsEqual("10.43.0.12:9000".utf8))
    }

    @Test func ipv6Target() throws {
        let text = "server { location /api/ { proxy_pass http://[fd00::7]:9000; } }"
        let t = try Self.file(text).targets(route: "/api/").get()
        #expect(t.map(\.address) == ["[fd00::7]:9000"])
        let rewritten = try Self.file(text).rewrite([RouteEdit(route: "/api/", address: "[fd00::8]:9001")])
        #expect(String(decoding: rewritten.bytes, as: UTF8.self) == "server { location /api/ { proxy_pass http://[fd00::8]:9001; } }")
    }

    @Test func upstreamServerWithParameters() throws {
        let text = "upstream api { server 10.43.0.12:9000 max_fails=3 fail_timeout=10s; }\nserver { location /api/ { proxy_pass http://api/api/; } }\n"
        let t = try Self.file(text).targets(route: "/api/").get()
        try #require(t.count == 1)
        #expect(t[0].kind == .upstreamServer(upstream: "api") && t[0].address == "10.43.0.12:9000" && t[0].line == 1)
        let out = try Self.file(text).rewrite([RouteEdit(route: "/api/", address: "10.43.7.3:9000")])
        #expect(String(decoding: out.bytes, as: UTF8.self).hasPrefix("upstream api { server 10.43.7.3:9000 max_fails=3 fail_timeout=10s; }"))
        #expect(out.changes == [TargetChange(route: "/api/", old: "10.43.0.12:9000", new: "10.43.7.3:9000", line: 1)])
    }

    @Test func everyDepthAndEveryServerBlock() throws {
        let text = """
            server { listen 80; location /ws/ { if ($http_upgrade) { proxy_pass http://10.0.0.1:1; }
              limit_except GET { deny all; } location /ws/x/ { proxy_pass http://10.0.0.2:2; } proxy_pass http://10.0.0.3:3; } }
            server { listen 443; location /ws/ { proxy_pass http://10.0.0.4:4; } }
            """
        let t = try Self.file(text).targets(route: "/ws/").get()
        #expect(t.map(\.address) == ["10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:3", "10.0.0.4:4"])
        #expect(t.map(\.line) == [1, 2, 2, 3])
    }

    @Test func redirectLocationIsSkippedWhenAnotherHasATarget() throws {
        let text = "server { location / { return 301 https://x$request_uri; } }\nserver { location / { proxy_pass http://10.0.0.1:80; } }"
        #expect(try Self.file(text).targets(route: "/").get().map(\.line) == [2])
    }

    struct ErrorCase: Sendable, CustomStringConvertible {
        var text: String, route: String, code: NginxConfError.Code, line: Int
        var description: String { "\(code)" }
    }

    static let errors: [ErrorCase] = [
        .init(text: "server {\n location /api { proxy_pass http://10.0.0.1; }\n}", route: "/api/", code: .locationMissing, line: 0),
        .init(text: "server {\n location / {\n  return 301 /x;\n }\n}", route: "/", code: .noTarget, line: 2),
        .init(text: "server {\n location / {\n  proxy_pass http://$backend;\n }\n}", route: "/", code: .variableInProxyPass, line: 3),
        .init(text: "server {\n location / {\n  proxy_pass http://10.0.0.1$request_uri;\n }\n}", route: "/", code: .variableInProxyPass, line: 3),
        .init(text: "upstream u {\n server 10.0.0.1;\n server 10.0.0.2;\n}\nserver { location / { proxy_pass http://u; } }", route: "/", code: .upstreamSeveralServers, line: 1),
        .init(text: "upstream u {\n keepalive 2;\n}\nserver { location / { proxy_pass http://u; } }", route: "/", code: .upstreamMissing, line: 1),
        .init(text: "server {\n location / {\n  proxy_pass http://unix:/run/a.sock;\n }\n}", route: "/", code: .unsupportedTarget, line: 3),
        .init(text: "server {\n location / {\n  proxy_pass http://backend.svc:80;\n }\n}", route: "/", code: .unsupportedTarget, line: 3),
        .init(text: "upstream u { server app.local:80; }\nserver {\n location / {\n  proxy_pass http://u;\n }\n}", route: "/", code: .unsupportedTarget, line: 4),
    ]

    @Test(arguments: errors)
    func targetErrorsNameFileLineAndRoute(_ c: ErrorCase) throws {
        let result = try Self.file(c.text).targets(route: c.route)
        guard case .failure(let error) = result else { Issue.record("expected \(c.code)"); return }
        #expect(error.code == c.code)
        #expect(error.line == c.line)
        #expect(error.route == c.route)
        #expect(error.file == "site.conf")
        #expect(error.description.contains("route \(c.route): "))
        #expect(!error.message.isEmpty)
    }

    @Test func failingRouteDoesNotStopOthers() throws {
        let text = "server { location /a/ { proxy_pass http://$x; } location /b/ { proxy_pass http://10.0.0.1:80; } }"
        let out = try Self.file(text).rewrite([RouteEdit(route: "/a/", address: "10.0.0.9:80"),
                                              RouteEdit(route: "/b/", address: "10.0.0.2:80")])
        #expect(out.errors.map(\.code) == [.variableInProxyPass])
        #expect(out.changes == [TargetChange(route: "/b/", old: "10.0.0.1:80", new: "10.0.0.2:80", line: 1)])
    }

    @Test func portStaysOmittedOnlyForTheSchemeDefault() throws {
        let text = "server { location /a/ { proxy_pass http://10.0.0.1; } location /b/ { proxy_pass https://10.0.0.2; } location /c/ { proxy_pass https://10.0.0.3; } }"
        let out = try Self.file(text).rewrite([RouteEdit(route: "/a/", address: "10.0.0.9:80"),
                                              RouteEdit(route: "/b/", address: "10.0.0.8:443"),
                                              RouteEdit(route: "/c/", address: "10.0.0.7:80")])
        #expect(out.changes.map(\.new) == ["10.0.0.9", "10.0.0.8", "10.0.0.7:80"])
    }

    @Test func nestedRouteLocationWinsOverItsParent() throws {
        let text = "server { location / { proxy_pass http://10.0.0.1:1; location /api/ { proxy_pass http://10.0.0.2:2; } } }"
        for order in [[0, 1], [1, 0]] {
            let edits = [RouteEdit(route: "/", address: "10.0.0.11:1"), RouteEdit(route: "/api/", address: "10.0.0.12:2")]
            let out = try Self.file(text).rewrite(order.map { edits[$0] })
            #expect(out.errors.isEmpty)
            #expect(String(decoding: out.bytes, as: UTF8.self).contains("10.0.0.11:1; location /api/ { proxy_pass http://10.0.0.12:2;"))
        }
    }

    @Test func twoRoutesSharingAnUpstreamWithDifferentAddressesIsAnError() throws {
        let text = "upstream u { server 10.0.0.1:80; }\nserver { location /a/ { proxy_pass http://u; } location /b/ { proxy_pass http://u; } }"
        let out = try Self.file(text).rewrite([RouteEdit(route: "/a/", address: "10.0.0.2:80"), RouteEdit(route: "/b/", address: "10.0.0.3:80")])
        #expect(out.changes.map(\.new) == ["10.0.0.2:80"])
        #expect(out.errors.map(\.route) == ["/b/"])
    }

    @Test func decoysStayUntouched() throws {
        let input = try fixtureBytes("nginx/decoys.conf")
        let out = try ConfigFile.parse(input, path: "decoys.conf").rewrite([RouteEdit(route: "/api/", address: "10.43.7.3:9000")])
        let before = String(decoding: input, as: UTF8.self), after = String(decoding: out.bytes, as: UTF8.self)
        #expect(after.components(separatedBy: "10.43.0.12").count == before.components(separatedBy: "10.43.0.12").count - 1)
        let changedLines = zip(before.split(separator: "\n", omittingEmptySubsequences: false), after.split(separator: "\n", omittingEmptySubsequences: false)).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(changedLines.map(\.offset) == [8])
    }

    @Test func strayTargetsOutsideRoutes() throws {
        let input = try fixtureBytes("nginx/decoys.conf")
        let file = try ConfigFile.parse(input, path: "decoys.conf")
        let strays = file.strayTargets(routes: ["/api/"], hosts: ["10.43.0.12"])
        // `location /api`, two regex locations, /metrics/ and @fallback; never comments, `set` or `return`.
        #expect(strays.map(\.route) == ["/api", "^/api/v[0-9]+/", "\\.(png|jpg)$", "/metrics/", "@fallback"])
        #expect(strays.allSatisfy { $0.address == "10.43.0.12:9000" && $0.kind == .proxyPass })
        #expect(file.strayTargets(routes: ["/api/"], hosts: ["10.43.0.99"]).isEmpty)
    }

    @Test func strayUpstreamServersAndIPv6Hosts() throws {
        let text = """
            upstream old { server [fd00::7]:9000; }
            upstream routed { server 10.0.0.1:80; }
            server { location /a/ { proxy_pass http://routed; } location /b/ { proxy_pass http://old; }
                     location /c/ { proxy_pass http://[FD00::7]:9000; } }
            """
        let strays = try Self.file(text).strayTargets(routes: ["/a/"], hosts: ["fd00::7", "10.0.0.1"])
        #expect(strays.map(\.kind) == [.upstreamServer(upstream: "old"), .proxyPass])
        #expect(try Self.file(text).strayTargets(routes: ["/a/"], hosts: ["[fd00::7]"]).count == 2)
        #expect(strays.map(\.address) == ["[fd00::7]:9000", "[FD00::7]:9000"])
    }
}
