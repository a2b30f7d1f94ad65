@testable import IpsyncdCore
import Logging
import NginxConf
import Testing
import TestSupport

/// `check` warns when a routed location carries WebSocket connections and nginx's old workers are not bounded
/// by `worker_shutdown_timeout` (each reload would leave a set of them behind until the clients leave).
@Suite struct WebSocketCheckTests {
    private func parse(_ text: String) throws -> ConfigFile { try ConfigFile.parse(Array(text.utf8), path: "site") }

    @Test func aWsRouteOrAnUpgradeHeaderMakesARouteAWebSocketRoute() throws {
        let site = try parse("""
            server {
                location / { proxy_pass http://10.0.0.1:80; }
                location /live/ { proxy_pass http://10.0.0.2:80; if ($x) { proxy_set_header upgrade $http_upgrade; } }
                location /ws/ { proxy_pass http://10.0.0.3:80; }
                location /api/ { proxy_pass http://10.0.0.4:80; proxy_set_header X-Upgrade no; }
            }
            """)
        let routes = ["/", "/live/", "/ws/", "/api/"].map { Route(location: $0, service: "s") }
        #expect(WebSocketCheck.webSocketRoutes(site: site, routes: routes) == ["/live/", "/ws/"])
    }

    @Test func theWarningNamesTheRoutesAndWhatToAdd() throws {
        #expect(WebSocketCheck.warning(webSocketRoutes: [], mainConfig: "/etc/nginx/nginx.conf", hasTimeout: false) == nil)
        #expect(WebSocketCheck.warning(webSocketRoutes: ["/ws/"], mainConfig: "/etc/nginx/nginx.conf", hasTimeout: true) == nil)
        let text = try #require(WebSocketCheck.warning(webSocketRoutes: ["/ws/"], mainConfig: "/etc/nginx/nginx.conf", hasTimeout: false))
        #expect(text.hasPrefix("/ws/ proxies WebSocket connections and /etc/nginx/nginx.conf has no worker_shutdown_timeout"))
        #expect(text.contains("`worker_shutdown_timeout 60s;`"))
    }

    @Test func checkWarnsUntilTheMainConfigOrATopLevelIncludeSetsTheTimeout() async throws {
        var fixture = try ResyncFixture()
        let check = { (settings: Settings) async -> String in
            let output = await Commands.check(settings: .success(settings), source: ScriptedSource(flowmasterSnapshot()),
                                              logger: Logger(label: "test"))
            #expect(output.exitCode == 0)
            return String(decoding: output.stdout, as: UTF8.self)
        }
        let warned = await check(fixture.settings)
        #expect(warned.contains("WARN  websocket: /ws/ proxies WebSocket connections and \(fixture.settings.nginxConf) has no worker_shutdown_timeout"), "\(warned)")

        fixture.settings.nginxConf = try fixture.dir.write("with-timeout.conf", """
            worker_shutdown_timeout 30s;
            events {}
            http { include \(fixture.dir.path)/sites-enabled/*; }
            """)
        #expect(!(await check(fixture.settings)).contains("WARN  websocket"))

        _ = try fixture.dir.write("main.d/shutdown.conf", "worker_shutdown_timeout 30s;\n")
        fixture.settings.nginxConf = try fixture.dir.write("included.conf", """
            include main.d/*.conf;
            events {}
            http { include \(fixture.dir.path)/sites-enabled/*; }
            """)
        #expect(!(await check(fixture.settings)).contains("WARN  websocket"))
    }
}
