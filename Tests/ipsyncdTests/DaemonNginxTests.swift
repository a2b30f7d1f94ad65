import Foundation
import K8sWatch
import Testing
import TestSupport
@testable import IpsyncdCore

/// The daemon against a real nginx: the Service's new address reaches the file, `nginx -t` passes, nginx
/// reloads, and traffic follows; a deleted Service keeps its route.
@Suite struct DaemonNginxTests {
    @Test func recreatedServiceIsAppliedCheckedReloadedAndServed() async throws {
        let old = try Backend(name: "old")
        let new = try Backend(name: "new")
        defer { old.stop(); new.stop() }
        let sandbox = try NginxSandbox(site: { listen in
            """
            server {
                listen \(listen);
                location /api/ {
                    proxy_pass http://\(old.address);
                }
            }

            """
        })
        try sandbox.start()
        defer { sandbox.stop() }
        #expect(await sandbox.eventuallyGet("/api/", contains: old.body) != nil)

        let harness = try DaemonHarness { settings, dir in
            settings.site = sandbox.sitePath
            settings.nginxConf = sandbox.confPath
            settings.checkCommand = sandbox.checkCommand
            settings.reloadCommand = sandbox.reloadCommand
            settings.commandTimeout = .seconds(10)
            settings.metricsFile = dir.file("ipsyncd.prom")
        }
        let run = Task { await harness.daemon.run() }
        let snapshot = ServiceSnapshot(services: ["api-gateway": ServiceInfo(name: "api-gateway", clusterIP: new.host,
                                                                             ports: [ServicePort(name: "http", port: new.port)])],
                                       resourceVersion: "2")
        harness.source.yield(snapshot)
        #expect(await eventually { !harness.records(result: "applied").isEmpty || !harness.records(result: "failed").isEmpty })
        let applied = try #require(harness.records(result: "applied").first,
                                   "\(harness.records.compactMap { $0["message"] as? String })")
        let message = try #require(applied["message"] as? String)
        #expect(message.hasPrefix("resync: /api/ api-gateway \(old.address) → \(new.address); check ok "))
        #expect(message.contains("; reload ok "))
        #expect(applied["ipsyncd_new"] as? [String] == [new.address])
        #expect(await sandbox.eventuallyGet("/api/", contains: new.body) != nil)
        // The symlink stays a symlink.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: sandbox.sitePath)) == "../sites-available/flowmaster")

        // The Service is deleted (first half of a recreate): the route keeps its address, and says why.
        harness.source.yield(ServiceSnapshot(services: [:], resourceVersion: "3"))
        #expect(await eventually { !harness.records(result: "kept").isEmpty })
        let kept = try #require(harness.records(result: "kept").first?["message"] as? String)
        #expect(kept.hasPrefix("resync: kept /api/ ("))
        #expect(String(decoding: try readBytes(sandbox.siteTarget), as: UTF8.self).contains(new.address))

        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
        let metrics = String(decoding: try readBytes(harness.dir.file("ipsyncd.prom")), as: UTF8.self)
        #expect(metrics.contains("ipsyncd_resyncs_total{result=\"applied\"} 1"))
        #expect(metrics.contains("ipsyncd_reloads_total{result=\"ok\"} 1"))
        #expect(await harness.notifications().contains { $0.hasPrefix("READY=1\nSTATUS=resync: /api/ api-gateway") })
    }

    @Test func sigtermDuringAnApplyFinishesItFirst() async throws {
        let old = try Backend(name: "old")
        let new = try Backend(name: "new")
        defer { old.stop(); new.stop() }
        let sandbox = try NginxSandbox(site: { listen in
            "server {\n    listen \(listen);\n    location /api/ {\n        proxy_pass http://\(old.address);\n    }\n}\n"
        })
        try sandbox.start()
        defer { sandbox.stop() }
        // A grace far above the real 4 s: this test proves the apply is finished first, and a slow machine
        // must not turn that into a test of speed (the grace itself is tested with a hung check).
        let harness = try DaemonHarness(stopGrace: .seconds(120)) { settings, dir in
            // The check announces itself, then takes a moment: SIGTERM arrives in the middle of the apply.
            let check = try dir.write("bin/check", "#!/bin/sh\ntouch \(dir.file("check-started"))\nsleep 0.3\nexec \(sandbox.checkCommand.replacingOccurrences(of: "{config}", with: "\"$1\""))\n")
            chmod(check, 0o755)
            settings.site = sandbox.sitePath
            settings.nginxConf = sandbox.confPath
            settings.checkCommand = "\(check) {config}"
            settings.reloadCommand = sandbox.reloadCommand
            settings.commandTimeout = .seconds(10)
        }
        let run = Task { await harness.daemon.run() }
        harness.source.yield(ServiceSnapshot(services: ["api-gateway": ServiceInfo(name: "api-gateway", clusterIP: new.host,
                                                                                     ports: [ServicePort(name: "http", port: new.port)])],
                                                resourceVersion: "2"))
        #expect(await eventually { FileManager.default.fileExists(atPath: harness.dir.file("check-started")) })
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
        #expect(harness.records(result: "applied").count == 1, "\(harness.records.compactMap { $0["message"] as? String })")
        #expect(harness.messages(containing: "exiting without waiting").isEmpty)
        #expect(await sandbox.eventuallyGet("/api/", contains: new.body) != nil)
        #expect(await harness.notifications().last == "STOPPING=1\nSTATUS=stopping on SIGTERM")
    }

    @Test func periodicResyncRelistsAndRepairsAHandEditedTarget() async throws {
        let old = try Backend(name: "old")
        let new = try Backend(name: "new")
        defer { old.stop(); new.stop() }
        let site: (String, String) -> String = { listen, backend in
            "server {\n    listen \(listen);\n    location /api/ {\n        proxy_pass http://\(backend);\n    }\n}\n"
        }
        let sandbox = try NginxSandbox(site: { site($0, old.address) })
        try sandbox.start()
        defer { sandbox.stop() }
        let harness = try DaemonHarness { settings, _ in
            settings.site = sandbox.sitePath
            settings.nginxConf = sandbox.confPath
            settings.checkCommand = sandbox.checkCommand
            settings.reloadCommand = sandbox.reloadCommand
            settings.commandTimeout = .seconds(10)
            settings.resyncInterval = .milliseconds(300)
        }
        let run = Task { await harness.daemon.run() }
        harness.source.yield(ServiceSnapshot(services: ["api-gateway": ServiceInfo(name: "api-gateway", clusterIP: new.host,
                                                                                     ports: [ServicePort(name: "http", port: new.port)])],
                                                resourceVersion: "2"))
        #expect(await eventually { harness.records(result: "applied").count == 1 })
        // Someone puts the old address back by hand; no Kubernetes event follows.
        try Data(site(sandbox.listen, old.address).utf8).write(to: URL(fileURLWithPath: sandbox.siteTarget))
        #expect(await eventually { harness.records(result: "applied").count == 2 })
        #expect(harness.relists >= 1)
        let repair = try #require(harness.records(result: "applied").last?["message"] as? String)
        #expect(repair.hasPrefix("resync: /api/ api-gateway \(old.address) → \(new.address); check ok "))
        #expect(await sandbox.eventuallyGet("/api/", contains: new.body) != nil)
        harness.signals.yield(SIGTERM)
        #expect(await run.value == 0)
    }
}
