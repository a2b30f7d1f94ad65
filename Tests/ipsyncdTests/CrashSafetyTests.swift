import Foundation
import Testing
import TestSupport

@Suite("CrashSafety: kill -9 during applies")
struct CrashSafetyTests {
    /// docs/design.md §6.9, measured: at least 50 times, start the daemon, let it converge, recreate
    /// api-gateway and SIGKILL the daemon 0–150 ms later. The live file must always pass `nginx -t`
    /// and be the old or the new bytes, never partial; the next daemon must converge (the intent note
    /// makes it reload a swap whose reload never happened).
    @Test("kill -9 at random points during applies never leaves a partial or broken site file")
    func killNineDuringApplies() async throws {
        try await blocking {
            let world = try Flowmaster()
            world.minReloadInterval = "0s"
            let port = world.backends["api-gateway"]!.port
            // Two backends at the same port take turns as api-gateway's ClusterIP.
            let sides = [world.backends["api-gateway"]!, try Backend(name: "api-gateway-b", port: port)]
            var current = 0
            var outcomes = (old: 0, new: 0, recoveredReloads: 0)
            let rounds = 50

            for round in 0..<rounds {
                let daemon = try world.startDaemon()
                let converged = world.traffic("api-gateway", reaches: sides[current])
                #expect(converged, "round \(round): a restarted daemon did not converge\n\(daemon.log)")
                // A swap whose reload never happened: the intent note made this start reload.
                if daemon.lines.contains(where: { $0.contains("start-up: reloaded nginx") }) { outcomes.recoveredReloads += 1 }
                let old = world.siteBytes
                let oldAddress = "http://\(sides[current].address);", newAddress = "http://\(sides[1 - current].address);"
                #expect(String(decoding: old, as: UTF8.self).contains(oldAddress), "round \(round)")
                guard converged else { daemon.kill9(); break }
                let new = Array(String(decoding: old, as: UTF8.self).replacingOccurrences(of: oldAddress, with: newAddress).utf8)

                current = 1 - current
                try world.api.recreate("api-gateway", clusterIP: sides[current].host)
                usleep(UInt32.random(in: 0...150_000))
                daemon.kill9()

                let live = world.siteBytes
                #expect(live == old || live == new, "round \(round): partial file\n\(String(decoding: live, as: UTF8.self))")
                if live == old { outcomes.old += 1 } else if live == new { outcomes.new += 1 }
                #expect(world.liveConfigPasses(), "round \(round): nginx -t fails on the live config")
            }

            // One last start converges and leaves nothing behind.
            let daemon = try world.startDaemon()
            #expect(world.traffic("api-gateway", reaches: sides[current]), "\(daemon.log)")
            daemon.signal(SIGTERM)
            #expect(daemon.waitForExit() == 0, "\(daemon.log)")
            for dir in [world.nginx.prefix, world.nginx.dir.file("sites-available"), world.nginx.dir.file("sites-enabled")] {
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }
                #expect(leftovers.isEmpty, "leftovers in \(dir): \(leftovers)")
            }
            print("kill -9 rounds: \(rounds); file left old \(outcomes.old)×, new \(outcomes.new)×; "
                  + "start-up reloads from an intent note: \(outcomes.recoveredReloads)")
        }
    }
}
