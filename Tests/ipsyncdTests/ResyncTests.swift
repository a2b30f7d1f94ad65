import Foundation
@testable import IpsyncdCore
import K8sWatch
import Logging
import NginxApply
import Testing
import TestSupport

/// A site, state dir and commands in a temp dir; the check and reload commands leave a marker when run.
struct ResyncFixture {
    let dir: TempDir
    let site: String
    var settings: Settings

    init(site bytes: [UInt8]? = nil) throws {
        dir = try TempDir("ipsyncd-resync")
        site = try dir.write("sites-enabled/flowmaster", try bytes ?? flowmasterSite())
        try FileManager.default.createDirectory(atPath: dir.file("state"), withIntermediateDirectories: true)
        settings = Settings()
        settings.site = site
        settings.nginxConf = try dir.write("nginx.conf", "events {}\nhttp { include \(dir.path)/sites-enabled/*; }\n")
        settings.stateDir = dir.file("state")
        settings.checkCommand = "touch \(dir.file("check-ran")) && false"
        settings.reloadCommand = "touch \(dir.file("reload-ran")) && false"
        settings.commandTimeout = .seconds(5)
    }

    var commandsRan: Bool {
        FileManager.default.fileExists(atPath: dir.file("check-ran")) || FileManager.default.fileExists(atPath: dir.file("reload-ran"))
    }

    func resyncer() -> Resyncer { Resyncer(settings: settings, logger: Logger(label: "test")) }

    /// Bytes and modification time, to prove that nothing touched the file.
    func fingerprint() throws -> ([UInt8], Int, Int) {
        var info = stat()
        guard stat(site, &info) == 0 else { throw POSIXError(.ENOENT) }
        return (try readBytes(site), info.st_mtim.tv_sec, info.st_mtim.tv_nsec)
    }
}

let recreatedAPI = flowmasterSnapshot(["api-gateway": ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3",
                                                                  ports: [ServicePort(name: "http", port: 9000)])])

@Suite struct ResyncTests {
    @Test func dryRunReturnsTheDiffAndTouchesNothing() async throws {
        let fixture = try ResyncFixture()
        let before = try fixture.fingerprint()
        let result = await fixture.resyncer().resync(snapshot: recreatedAPI, dryRun: true)
        #expect(result.outcome == .dryRun && result.dryRun)
        #expect(String(decoding: result.diff, as: UTF8.self).contains("+        proxy_pass http://10.43.7.3:9000;"))
        #expect(result.changes.map(\.location) == ["/api/"])
        #expect(result.summary == "dry run, would change: /api/ api-gateway 10.43.0.12:9000 → 10.43.7.3:9000")
        let after = try fixture.fingerprint()
        #expect(before == after)
        #expect(!fixture.commandsRan)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.dir.file("sites-enabled")) == ["flowmaster"])
    }

    @Test func inSyncWritesAndRunsNothing() async throws {
        let fixture = try ResyncFixture()
        let before = try fixture.fingerprint()
        let result = await fixture.resyncer().resync(snapshot: flowmasterSnapshot(), dryRun: false)
        #expect(result.outcome == .inSync && result.summary == "in sync, nothing written")
        #expect(result.report == nil && result.applyError == nil && result.diff.isEmpty)
        #expect(try fixture.fingerprint() == before)
        #expect(!fixture.commandsRan)
    }

    @Test func aDeletedServiceIsKeptWithTheReason() async throws {
        let fixture = try ResyncFixture()
        let result = await fixture.resyncer().resync(snapshot: flowmasterSnapshot(["api-gateway": nil]), dryRun: false)
        #expect(result.outcome == .kept)
        #expect(result.kept.map(\.location) == ["/api/"])
        #expect(result.summary == "nothing written: kept /api/ (api-gateway is absent (deleted?); keeping 10.43.0.12:9000)")
        #expect(!fixture.commandsRan)
    }

    @Test func aMissingSiteFileIsAFailureNamingIt() async throws {
        var fixture = try ResyncFixture()
        fixture.settings.site = fixture.dir.file("sites-enabled/nope")
        let result = await fixture.resyncer().resync(snapshot: flowmasterSnapshot(), dryRun: true)
        #expect(result.outcome == .failed && result.plan == nil)
        #expect(result.failure?.contains("the site file \(fixture.settings.site) does not exist") == true)
        #expect(result.failure?.contains("set `site`") == true)
    }

    @Test func aFailingCheckLeavesTheFileAndReportsTheError() async throws {
        let fixture = try ResyncFixture()
        let before = try fixture.fingerprint()
        let result = await fixture.resyncer().resync(snapshot: recreatedAPI, dryRun: false)
        #expect(result.outcome == .failed)
        #expect(result.applyError?.code == .checkFailed, "\(result.summary)")
        #expect(result.failure != nil && result.summary.hasPrefix("failed: "))
        #expect(try fixture.fingerprint().0 == before.0)
        #expect(FileManager.default.fileExists(atPath: fixture.dir.file("check-ran")))
        #expect(!FileManager.default.fileExists(atPath: fixture.dir.file("reload-ran")))
    }

    @Test func templateModeRendersFromTheTemplateFileAndThenIsInSync() async throws {
        var fixture = try ResyncFixture(site: Array("# to be rendered\n".utf8))
        fixture.settings.template = fixturePath("../../templates/flowmaster.conf.tmpl")
        let pending = await fixture.resyncer().resync(snapshot: flowmasterSnapshot(), dryRun: true)
        #expect(pending.outcome == .dryRun)
        #expect(String(decoding: pending.diff, as: UTF8.self).contains("+        proxy_pass http://10.43.0.12:9000;"))
        let rendered = try #require(pending.plan?.newBytes)
        try fixture.dir.write("sites-enabled/flowmaster", rendered)
        let clean = await fixture.resyncer().resync(snapshot: flowmasterSnapshot(), dryRun: false)
        #expect(clean.outcome == .inSync && !fixture.commandsRan)
        var missing = fixture
        missing.settings.template = fixture.dir.file("nope.tmpl")
        let failed = await missing.resyncer().resync(snapshot: flowmasterSnapshot(), dryRun: true)
        #expect(failed.outcome == .failed && failed.failure?.contains("cannot read the template") == true)
    }

    @Test func aFileChangedBeforeTheLockIsPlannedAgain() async throws {
        var setup = try ResyncFixture()
        // The applier waits for the lock as long as a command may run: longer than this test may hold it on a
        // loaded machine, so that what it finds is the edit, never a lock given up on.
        setup.settings.commandTimeout = .seconds(120)
        let fixture = setup
        let lockPath = fixture.dir.file("state/lock")
        let held = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(held >= 0 && flock(held, LOCK_EX) == 0)
        let resync = Task { await fixture.resyncer().resync(snapshot: recreatedAPI, dryRun: false) }
        // The applier opens the lock file once the site is read and planned: wait for its descriptor.
        func openers() -> Int {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            let suffix = "/" + (fixture.dir.path as NSString).lastPathComponent + "/state/lock"   // the temp path may hold "//"
            return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)"))?.hasSuffix(suffix) == true }.count
        }
        #expect(await eventually { openers() == 2 })
        let edited = try flowmasterSite() + Array("# edited by hand\n".utf8)
        try fixture.dir.write("sites-enabled/flowmaster", edited)
        close(held)
        let result = await resync.value
        // Planned again from the edited file, then the (failing) check ran: not a siteChanged failure.
        let replanned = result.plan?.oldBytes == edited
        #expect(replanned)
        #expect(result.applyError?.code == .checkFailed, "\(result.summary)")
    }

    @Test func aChangeIsCheckedSwappedAndReloadedInARealNginx() async throws {
        let backendOld = "127.0.0.1:1", site = { (listen: String) in
            "server {\n    listen \(listen);\n    location / {\n        proxy_pass http://\(backendOld);\n    }\n}\n"
        }
        let sandbox = try NginxSandbox(site: site)
        try sandbox.start()
        defer { sandbox.stop() }
        var settings = Settings()
        settings.site = sandbox.sitePath
        settings.nginxConf = sandbox.confPath
        settings.checkCommand = sandbox.checkCommand
        settings.reloadCommand = sandbox.reloadCommand
        settings.stateDir = sandbox.dir.file("state")
        settings.commandTimeout = .seconds(10)
        settings.routes = [Route(location: "/", service: "frontend-nextjs")]
        let snapshot = ServiceSnapshot(services: ["frontend-nextjs": ServiceInfo(name: "frontend-nextjs", clusterIP: "127.0.0.2",
                                                                                  ports: [ServicePort(name: "http", port: 8080)])],
                                       resourceVersion: "2")
        var options = ApplyOptions(settings: settings)
        options.pidFile = sandbox.pidFile
        let resyncer = Resyncer(routes: settings.routes, sitePath: settings.site, templatePath: nil,
                                applier: Applier(options: options, logger: Logger(label: "test")))
        let result = await resyncer.resync(snapshot: snapshot, dryRun: false)
        #expect(result.outcome == .applied, "\(result.summary)")
        #expect(result.report?.confirmed == true && result.report?.stagedCheck == true)
        #expect(result.applyDuration != nil)
        #expect(result.summary == "applied: / frontend-nextjs 127.0.0.1:1 → 127.0.0.2:8080")
        let text = try String(contentsOfFile: sandbox.sitePath, encoding: .utf8)
        #expect(text.contains("proxy_pass http://127.0.0.2:8080;"))
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: sandbox.sitePath)
        #expect(link == "../sites-available/flowmaster")
        let again = await resyncer.resync(snapshot: snapshot, dryRun: false)
        #expect(again.outcome == .inSync)
    }
}
