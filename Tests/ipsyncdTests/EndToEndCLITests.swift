import Foundation
import Testing
import TestSupport

@Suite("EndToEnd: one-shot commands and --dry-run", .serialized)
struct EndToEndCLITests {
    /// The live file's bytes and modification time.
    static func fingerprint(_ path: String) -> ([UInt8], timespec) {
        var info = stat()
        _ = stat(path, &info)
        return ((try? readBytes(path)) ?? [], info.st_mtim)
    }

    static func same(_ a: ([UInt8], timespec), _ b: ([UInt8], timespec)) -> Bool {
        a.0 == b.0 && a.1.tv_sec == b.1.tv_sec && a.1.tv_nsec == b.1.tv_nsec
    }

    /// Check and reload commands that leave a marker file when they run.
    static func markCommands(_ world: Flowmaster) -> (check: String, reload: String) {
        let check = world.dir.file("check-ran"), reload = world.dir.file("reload-ran")
        return ("touch \(check); \(world.nginx.checkCommand)", "touch \(reload); \(world.nginx.reloadCommand)")
    }

    @Test("sync --dry-run and run --dry-run write nothing and run no check or reload; exit 2 with the diff, 0 in sync")
    func dryRunWritesNothing() async throws {
        try await blocking {
            let world = try Flowmaster()
            (world.checkCommand, world.reloadCommand) = Self.markCommands(world)
            let before = Self.fingerprint(world.nginx.siteTarget)

            let inSync = try world.command("sync", ["--dry-run"])
            #expect(inSync.status == 0, "\(inSync.stderr)")
            #expect(inSync.stdout.isEmpty)

            let old = world.backends["api-gateway"]!.address
            let newIP = Backend.randomLoopbackHost()
            try world.api.update("api-gateway", clusterIP: newIP)
            let pending = try world.command("sync", ["--dry-run"])
            #expect(pending.status == 2, "\(pending.stderr)")
            let diff = pending.stdoutText
            #expect(diff.hasPrefix("--- "), "\(diff)")
            #expect(diff.contains("\n-        proxy_pass http://\(old);\n"), "\(diff)")
            #expect(diff.contains("\n+        proxy_pass http://\(newIP):\(world.backends["api-gateway"]!.port);\n"), "\(diff)")

            let daemon = try world.startDaemon(["--dry-run"])
            #expect(daemon.waitForLine { $0.contains("resync (dry run)") } != nil, "\(daemon.log)")
            daemon.signal(SIGTERM)
            #expect(daemon.waitForExit() == 0, "\(daemon.log)")

            #expect(Self.same(Self.fingerprint(world.nginx.siteTarget), before), "--dry-run touched the site file")
            #expect(!FileManager.default.fileExists(atPath: world.dir.file("check-ran")), "--dry-run ran the check command")
            #expect(!FileManager.default.fileExists(atPath: world.dir.file("reload-ran")), "--dry-run ran the reload command")

            // Without --dry-run the same commands do run: the markers prove something.
            let applied = try world.command("sync")
            #expect(applied.status == 0, "\(applied.stderr)")
            #expect(FileManager.default.fileExists(atPath: world.dir.file("check-ran")))
            #expect(try world.command("sync", ["--dry-run"]).status == 0)
        }
    }

    @Test("check and status: 0 when healthy and in sync; 1 when a location is missing, the API refuses, or out of sync")
    func checkAndStatusExitCodes() async throws {
        try await blocking {
            let world = try Flowmaster()
            let check = try world.command("check")
            #expect(check.status == 0, "\(check.stdoutText)\n\(check.stderr)")
            let status = try world.command("status")
            #expect(status.status == 0, "\(status.stdoutText)\n\(status.stderr)")
            #expect(try world.command("status", ["--json"]).status == 0)

            // A route whose location the site file does not have.
            let missing = ["--route", "/=frontend-nextjs", "--route", "/api/=api-gateway", "--route", "/admin/=api-gateway"]
            let checkMissing = try world.command("check", missing)
            #expect(checkMissing.status == 1, "\(checkMissing.stdoutText)")
            #expect((checkMissing.stdoutText + checkMissing.stderr).contains("/admin/"))
            #expect(try world.command("status", missing).status == 1)

            // Out of sync: the Service moved and nobody synced yet.
            try world.api.update("api-gateway", clusterIP: Backend.randomLoopbackHost())
            let outOfSync = try world.command("status")
            #expect(outOfSync.status == 1, "\(outOfSync.stdoutText)")
            #expect(try world.command("sync").status == 0)
            #expect(try world.command("status").status == 0)

            // The API refuses: the token is no longer accepted.
            try world.api.setTokens(["another-token"])
            let refused = ["--kubeconfig", world.api.kubeconfigToken]
            let checkRefused = try world.command("check", refused)
            #expect(checkRefused.status == 1, "\(checkRefused.stdoutText)\n\(checkRefused.stderr)")
            #expect(try world.command("status", refused).status == 1)
        }
    }
}
