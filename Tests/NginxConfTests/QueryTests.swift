import Testing
@testable import NginxConf

@Suite struct QueryTests {
    static let site = """
        include /etc/nginx/snippets/a.conf;
        upstream api_gateway { server 10.43.0.12:9000 max_fails=3; keepalive 4; }
        upstream other { server 10.43.0.13:9000; }
        server {
            listen 80;
            include snippets/b.conf;
            location / { proxy_pass http://10.43.0.10:3000; }
            location /api/ { proxy_pass http://api_gateway; location /api/x/ { include c.conf; } }
            location /api { return 404; }
            location = /exact { return 200; }
            location ^~ /ws/ { return 200; }
            location ~ /api/ { return 403; }
            location ~* /ws/ { return 403; }
            location @named { return 200; }
            location =/glued { return 200; }
        }
        http {
            server { listen 8080; location /api/ { return 200; } }
        }

        """

    let file: ConfigFile
    init() throws { file = try ConfigFile.parse(Array(Self.site.utf8), path: "site") }

    @Test func serversAtTopLevelAndInsideHttp() {
        let servers = file.servers()
        #expect(servers.count == 2)
        #expect(servers.map(\.line) == [4, 18])
    }

    @Test func locationsMatchExactlyAndNeverRegex() {
        #expect(file.locations(exactly: "/api/").map(\.line) == [8, 18])
        #expect(file.locations(exactly: "/api").map(\.line) == [9])
        #expect(file.locations(exactly: "/exact").count == 1)
        #expect(file.locations(exactly: "/ws/").map(\.line) == [11])
        #expect(file.locations(exactly: "/glued").count == 1)
        #expect(file.locations(exactly: "@named").isEmpty)
        #expect(file.locations(exactly: "/missing").isEmpty)
        #expect(file.locations(exactly: "/api/x/").count == 1)
    }

    @Test func everyLocationWithItsModifier() {
        let all = file.locations()
        #expect(all.map(\.locationModifier) == [nil, nil, nil, nil, "=", "^~", "~", "~*", "@", "=", nil])
        #expect(all.map(\.locationPath) == ["/", "/api/", "/api/x/", "/api", "/exact", "/ws/", "/api/", "/ws/", "@named", "/glued", "/api/"])
        #expect(file.directives[0].locationPath == nil)
    }

    @Test func upstreamByName() throws {
        let upstream = try #require(file.upstream(named: "api_gateway"))
        #expect(upstream.children?.map(\.name) == ["server", "keepalive"])
        #expect(upstream.children?[0].arguments.map(\.value) == ["10.43.0.12:9000", "max_fails=3"])
        #expect(file.upstream(named: "missing") == nil)
    }

    @Test func includesAtAnyDepthInFileOrder() {
        #expect(file.includes().map { $0.arguments[0].value } == ["/etc/nginx/snippets/a.conf", "snippets/b.conf", "c.conf"])
    }

    @Test func directivesByName() {
        #expect(file.directives(named: "proxy_pass").count == 2)
        #expect(file.directives(named: "listen").map { $0.arguments[0].value } == ["80", "8080"])
        #expect(file.directives(named: "server").count == 4)
    }
}
