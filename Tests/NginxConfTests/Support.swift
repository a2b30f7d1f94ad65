import Foundation
import NginxConf
import TestSupport

/// Site fixtures under Tests/Fixtures/nginx (names without `.conf`), sorted.
func siteFixtures() -> [String] {
    let dir = fixturePath("nginx")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return names.filter { $0.hasSuffix(".conf") }.map { String($0.dropLast(5)) }.sorted()
}

/// Invalid fixtures under Tests/Fixtures/nginx/invalid (names without `.conf`), sorted.
func invalidFixtures() -> [String] {
    let dir = fixturePath("nginx/invalid")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return names.filter { $0.hasSuffix(".conf") }.map { String($0.dropLast(5)) }.sorted()
}

/// Fixtures that nginx-light cannot load, with the reason (excluded from the nginx -t tests only).
let fixturesNginxCannotLoad: [String: String] = [
    "lua": "needs the Lua module (content_by_lua_block), which nginx-light does not have",
]

func fixtureBytes(_ relative: String) throws -> [UInt8] { try readBytes(fixturePath(relative)) }

/// `ROUTE ADDRESS` lines; blank lines and `#` comments skipped.
func parseEdits(_ text: String) -> [RouteEdit] {
    text.split(separator: "\n").compactMap { line in
        let parts = line.split(separator: " ")
        guard parts.count == 2, !line.hasPrefix("#") else { return nil }
        return RouteEdit(route: String(parts[0]), address: String(parts[1]))
    }
}

/// A temp prefix for `nginx -t`: a minimal main config whose `http` block includes `site.conf`.
struct NginxSandbox {
    let dir: TempDir
    init() throws {
        dir = try TempDir("nginxconf-nginx")
        let p = dir.path
        try dir.write("nginx.conf", """
            pid \(p)/nginx.pid;
            error_log \(p)/error.log;
            events {}
            http {
                access_log off;
                client_body_temp_path \(p)/client_body;
                proxy_temp_path \(p)/proxy;
                fastcgi_temp_path \(p)/fastcgi;
                uwsgi_temp_path \(p)/uwsgi;
                scgi_temp_path \(p)/scgi;
                include site.conf;
            }

            """)
    }

    /// Runs `nginx -t` with `site` as the included site file; the exit status and nginx's output.
    func check(_ site: [UInt8]) throws -> (ok: Bool, output: String) {
        try dir.write("site.conf", site)
        guard let nginx = findExecutable("nginx") else { return (false, "nginx not found") }
        // A mutant may turn an address into a host name: let its lookup fail fast.
        var environment = ProcessInfo.processInfo.environment
        environment["RES_OPTIONS"] = "timeout:1 attempts:1"
        let result = try runProcess(nginx, ["-t", "-q", "-p", dir.path + "/", "-c", dir.file("nginx.conf")],
                                    environment: environment, timeout: 60)
        return (result.status == 0, result.stderr + result.stdout)
    }
}
