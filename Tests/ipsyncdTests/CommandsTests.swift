import Foundation
@testable import IpsyncdCore
import K8sWatch
import Logging
import Testing
import TestSupport

@Suite struct CommandsTests {
    let logger = Logger(label: "test")

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    // MARK: sync

    @Test func syncDryRunExits2WithTheDiffAndWritesNothing() async throws {
        let fixture = try ResyncFixture()
        let before = try fixture.fingerprint()
        let output = await Commands.sync(settings: fixture.settings, dryRun: true, source: ScriptedSource(recreatedAPI), logger: logger)
        #expect(output.exitCode == 2)
        #expect(text(output.stdout).hasPrefix("--- \(fixture.site)\n+++ \(fixture.site)\n@@ "))
        #expect(output.stderr.contains("would change: /api/ api-gateway 10.43.0.12:9000 → 10.43.7.3:9000"))
        #expect(try fixture.fingerprint() == before && !fixture.commandsRan)
    }

    @Test func syncExits0WhenInSync() async throws {
        let fixture = try ResyncFixture()
        for dryRun in [true, false] {
            let output = await Commands.sync(settings: fixture.settings, dryRun: dryRun, source: ScriptedSource(flowmasterSnapshot()), logger: logger)
            #expect(output.exitCode == 0 && output.stdout.isEmpty)
        }
        #expect(!fixture.commandsRan)
    }

    @Test func syncExits1WhenTheAPIOrTheApplyFails() async throws {
        let fixture = try ResyncFixture()
        let down = ScriptedSource(failing: K8sError(code: .connection, message: "cannot connect to https://127.0.0.1:1"), name: "test")
        let output = await Commands.sync(settings: fixture.settings, dryRun: false, source: down, logger: logger)
        #expect(output.exitCode == 1 && output.stderr.contains("cannot read the Services from test: cannot connect"))
        let failing = await Commands.sync(settings: fixture.settings, dryRun: false, source: ScriptedSource(recreatedAPI), logger: logger)
        #expect(failing.exitCode == 1 && failing.stderr.hasPrefix("ipsyncd: "))
    }

    @Test func syncExits1WhenARouteHasAnErrorButSyncsTheOthersInDryRun() async throws {
        var fixture = try ResyncFixture()
        fixture.settings.routes = Route.defaults + [Route(location: "/missing/", service: "api-gateway")]
        let output = await Commands.sync(settings: fixture.settings, dryRun: true, source: ScriptedSource(recreatedAPI), logger: logger)
        #expect(output.exitCode == 1)
        #expect(text(output.stdout).contains("+        proxy_pass http://10.43.7.3:9000;"))
        #expect(output.stderr.contains("/missing/"))
    }

    // MARK: status

    @Test func statusInSyncExits0WithATable() async throws {
        let fixture = try ResyncFixture()
        let output = await Commands.status(settings: fixture.settings, json: false, source: ScriptedSource(flowmasterSnapshot()))
        #expect(output.exitCode == 0)
        let lines = text(output.stdout).split(separator: "\n").map(String.init)
        try #require(lines.count >= 3, "\(lines)")
        #expect(lines[1].hasPrefix("LOCATION  SERVICE"))
        #expect(lines[2] == "/         frontend-nextjs    10.43.0.10:3000  10.43.0.10:3000  yes")
        #expect(lines.contains { $0.hasPrefix("warning: ") && $0.contains("/admin/") })
        #expect(lines.last == "all routes in sync")
    }

    @Test func statusOutOfSyncExits1AndSaysWhatToDo() async throws {
        let fixture = try ResyncFixture()
        let output = await Commands.status(settings: fixture.settings, json: false, source: ScriptedSource(recreatedAPI))
        #expect(output.exitCode == 1)
        #expect(text(output.stdout).contains("/api/     api-gateway        10.43.7.3:9000   10.43.0.12:9000  NO (run ipsyncd sync)"))
        #expect(text(output.stdout).hasSuffix("NOT in sync\n"))
        let kept = await Commands.status(settings: fixture.settings, json: false, source: ScriptedSource(flowmasterSnapshot(["api-gateway": nil])))
        #expect(kept.exitCode == 1 && text(kept.stdout).contains("/api/: api-gateway is absent (deleted?); keeping 10.43.0.12:9000"))
    }

    @Test func statusJSONHasStableKeys() async throws {
        let fixture = try ResyncFixture()
        let output = await Commands.status(settings: fixture.settings, json: true,
                                           source: ScriptedSource(flowmasterSnapshot(["api-gateway": nil])))
        #expect(output.exitCode == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout)) as? [String: Any])
        #expect(Set(object.keys) == ["site", "namespace", "in_sync", "routes", "warnings", "errors"])
        #expect(object["in_sync"] as? Bool == false)
        let routes = try #require(object["routes"] as? [[String: Any]])
        try #require(routes.count == 3)
        for route in routes {
            #expect(Set(route.keys) == ["location", "service", "live", "file", "in_sync", "status", "reason"])
        }
        #expect(routes[1]["live"] is NSNull && routes[1]["status"] as? String == "kept")
        #expect(routes[0]["live"] as? String == "10.43.0.10:3000" && routes[0]["file"] as? [String] == ["10.43.0.10:3000"])
    }

    @Test func statusExits1WhenTheAPIOrTheSiteCannotBeRead() async throws {
        var fixture = try ResyncFixture()
        let down = ScriptedSource(failing: K8sError(code: .unauthorized, message: "401 Unauthorized"), name: "test")
        let api = await Commands.status(settings: fixture.settings, json: false, source: down)
        #expect(api.exitCode == 1 && api.stderr.contains("401 Unauthorized"))
        fixture.settings.site = fixture.dir.file("nope")
        let site = await Commands.status(settings: fixture.settings, json: false, source: ScriptedSource(flowmasterSnapshot()))
        #expect(site.exitCode == 1 && site.stderr.contains("the site file \(fixture.settings.site) does not exist"))
    }

    // MARK: check

    @Test func checkPassesAndWarnsAboutStrayTargets() async throws {
        let fixture = try ResyncFixture()
        let output = await Commands.check(settings: .success(fixture.settings), source: ScriptedSource(flowmasterSnapshot()), logger: logger)
        let lines = text(output.stdout).split(separator: "\n").map(String.init)
        #expect(output.exitCode == 0, "\(lines)")
        #expect(lines.filter { $0.hasPrefix("ok    ") }.map { $0.split(separator: ":")[0] }
                == ["ok    config", "ok    kubernetes", "ok    site", "ok    route /", "ok    route /api/", "ok    route /ws/", "ok    staged check",
                   "ok    state_dir"])
        #expect(lines.contains { $0.hasPrefix("WARN  stray target: ") })
        #expect(lines.last == "all checks passed")
    }

    @Test func checkFailsOnAMissingRouteABadConfigOrNoAccess() async throws {
        var fixture = try ResyncFixture()
        fixture.settings.routes.append(Route(location: "/missing/", service: "api-gateway"))
        let route = await Commands.check(settings: .success(fixture.settings), source: ScriptedSource(flowmasterSnapshot()), logger: logger)
        #expect(route.exitCode == 1 && text(route.stdout).contains("FAIL  route /missing/: "))

        let config = await Commands.check(settings: .failure(ConfigError(code: .unknownKey, source: "x.yaml", key: "setle", message: "unknown key")),
                                          source: nil, logger: logger)
        #expect(config.exitCode == 1 && text(config.stdout).hasPrefix("FAIL  config: x.yaml: setle: unknown key"))

        let denied = ScriptedSource(failing: K8sError(code: .forbidden, message: "cannot watch services in namespace flowmaster: forbidden"), name: "test")
        let access = await Commands.check(settings: .success(fixture.settings), source: denied, logger: logger)
        #expect(access.exitCode == 1 && text(access.stdout).contains("FAIL  kubernetes: test: cannot watch services"))
    }

    @Test func checkWarnsWhenAServiceHasNoAddressAndWhenNoIncludeLoadsTheSite() async throws {
        var fixture = try ResyncFixture()
        fixture.settings.nginxConf = try fixture.dir.write("other.conf", "events {}\nhttp { }\n")
        let output = await Commands.check(settings: .success(fixture.settings),
                                          source: ScriptedSource(flowmasterSnapshot(["api-gateway": nil])), logger: logger)
        let out = text(output.stdout)
        #expect(output.exitCode == 0, "\(out)")
        #expect(out.contains("WARN  route /api/: ") && out.contains("api-gateway is absent"))
        #expect(out.contains("WARN  staged check: "))
        #expect(out.contains("WARN  config: check_command `touch "))
    }

    /// Issue 10 item 8: `sync` fails on a state directory it cannot create or write, so `check` must too.
    @Test func checkFailsWhenTheStateDirCannotBeCreatedOrWritten() async throws {
        var fixture = try ResyncFixture()
        let file = try fixture.dir.write("a-file", "x")
        fixture.settings.stateDir = file + "/state"
        let underFile = await Commands.check(settings: .success(fixture.settings), source: ScriptedSource(flowmasterSnapshot()), logger: logger)
        #expect(underFile.exitCode == 1)
        #expect(text(underFile.stdout).contains("FAIL  state_dir: \(file) is not a directory, so \(file)/state cannot be created; set state_dir"),
                "\(text(underFile.stdout))")
        let sync = await Commands.sync(settings: fixture.settings, dryRun: false, source: ScriptedSource(recreatedAPI), logger: logger)
        #expect(sync.exitCode == 1, "sync fails on it too")

        guard FaultWorld.canMountTmpfs else { return }
        let mount = try TempDir("ipsyncd-ro-state")
        #expect(try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", mount.path]).status == 0)
        defer { _ = try? runProcess("/bin/umount", [mount.path]) }
        for stateDir in [mount.path, mount.path + "/ipsyncd"] {
            fixture.settings.stateDir = stateDir
            let readOnly = await Commands.check(settings: .success(fixture.settings), source: ScriptedSource(flowmasterSnapshot()), logger: logger)
            #expect(readOnly.exitCode == 1)
            #expect(text(readOnly.stdout).contains("FAIL  state_dir: \(stateDir) ") && text(readOnly.stdout).contains("Read-only file system"),
                    "\(text(readOnly.stdout))")
        }
    }

    @Test func checkFailsWhenNoRoutedServiceExistsInTheNamespace() async throws {
        let fixture = try ResyncFixture()
        let empty = ServiceSnapshot(services: [:], resourceVersion: "1")
        let output = await Commands.check(settings: .success(fixture.settings), source: ScriptedSource(empty), logger: logger)
        #expect(output.exitCode == 1)
        #expect(text(output.stdout).contains("FAIL  kubernetes: none of the routed Services ("), "\(text(output.stdout))")
        #expect(text(output.stdout).contains("check the namespace setting"))
    }

    // MARK: render

    @Test func renderFillsTheTemplate() async throws {
        var fixture = try ResyncFixture()
        fixture.settings.template = fixturePath("../../templates/flowmaster.conf.tmpl")
        let output = await Commands.render(settings: fixture.settings, output: "-", source: ScriptedSource(flowmasterSnapshot()))
        #expect(output.exitCode == 0)
        #expect(text(output.stdout).contains("proxy_pass http://10.43.0.12:9000;"))
        let path = fixture.dir.file("rendered.conf")
        let written = await Commands.render(settings: fixture.settings, output: path, source: ScriptedSource(flowmasterSnapshot()))
        #expect(written.exitCode == 0 && written.stdout.isEmpty)
        #expect(try readBytes(path) == output.stdout)
        // Through a symlink: the link stays, its target gets the bytes.
        try FileManager.default.createSymbolicLink(atPath: fixture.dir.file("link.conf"), withDestinationPath: "rendered.conf")
        try fixture.dir.write("rendered.conf", "old\n")
        let linked = await Commands.render(settings: fixture.settings, output: fixture.dir.file("link.conf"), source: ScriptedSource(flowmasterSnapshot()))
        #expect(linked.exitCode == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: fixture.dir.file("link.conf")) == "rendered.conf")
        #expect(try readBytes(path) == output.stdout)
    }

    @Test func renderFailsWithoutATemplateOrAnAddress() async throws {
        var fixture = try ResyncFixture()
        let none = await Commands.render(settings: fixture.settings, output: "-", source: ScriptedSource(flowmasterSnapshot()))
        #expect(none.exitCode == 1 && none.stderr.contains("render needs a template"))
        fixture.settings.template = fixturePath("../../templates/flowmaster.conf.tmpl")
        let missing = await Commands.render(settings: fixture.settings, output: "-",
                                            source: ScriptedSource(flowmasterSnapshot(["api-gateway": nil])))
        #expect(missing.exitCode == 1 && missing.stderr.contains("api-gateway is absent"))
    }
}
