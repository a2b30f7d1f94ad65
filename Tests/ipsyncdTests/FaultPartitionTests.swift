import Foundation
import Testing
import TestSupport

/// Issue 10 item 4: the API server in a network namespace of its own, the path to it blackholed (every
/// packet dropped, no RST, no FIN) while the server forgets the watch and api-gateway is recreated, then
/// healed. The daemon must notice the silent connection by itself, log it once, and serve the new
/// address after the heal. CI runs it scaled down (watch_silence 3 s, a bookmark every second, an 8 s
/// blackhole); `IPSYNCD_PARTITION_REAL=1` runs it with the production defaults and a 2-minute blackhole
/// (bench/partition.sh) and prints the figures for docs/reliability.md.
@Suite("FaultMatrix: network partition")
struct FaultPartitionTests {
    static let real = ProcessInfo.processInfo.environment["IPSYNCD_PARTITION_REAL"] == "1"

    @Test("blackholed API path: noticed, logged once, converged after the heal",
          .enabled(if: NetworkNamespace.isAvailable, "needs root and ip netns"))
    func blackholedPath() async throws {
        try await blocking {
            let network = try NetworkNamespace(label: "net-partition")
            defer { network.remove() }
            let world = try FaultWorld(settings: Self.real ? [:] : ["watch_silence": "3s"], network: network)
            defer { world.api.stop() }
            if !Self.real { try world.api.setBookmarkInterval(ms: 1000) }
            let daemon = try world.startDaemon()
            // A bookmark on the first watch: from then on watches get the bookmark-derived deadline too.
            usleep(Self.real ? 0 : 1_500_000)
            let port = world.api.port
            let linesBefore = daemon.lines.count

            try network.blackhole(port: port)
            let blackholed = Date()
            try world.api.fault("drop")      // the server forgets the watch (its FIN is dropped too)
            try world.api.fault("compact")   // and the history: resuming from the old resourceVersion is a 410
            try world.recreate()

            let lost = daemon.waitForLine(from: linesBefore, timeout: Self.real ? 180 : 60) { $0.contains("watch lost") }
            let noticed = Date().timeIntervalSince(blackholed)
            #expect(lost != nil, "the silent connection was never noticed:\n\(daemon.log)")
            #expect(lost.map { $0.contains("went silent") || $0.contains("no data from") } ?? false, "\(lost ?? "")")

            let hold: Double = Self.real ? 120 : 8
            let left = hold - Date().timeIntervalSince(blackholed)
            if left > 0 { usleep(UInt32(left * 1_000_000)) }
            #expect(world.siteText == world.expectedSite(world.addresses[world.addresses.count - 2]),
                    "nothing can change while the API is unreachable")
            try network.heal(port: port)
            let healed = Date()
            #expect(world.converges(reloads: 1, timeout: Self.real ? 120 : 90), "\(daemon.log)")
            let served = Date().timeIntervalSince(healed)

            let losses = daemon.lines[linesBefore...].filter { $0.contains("watch lost") }
            #expect(losses.count == 1, "one outage, one warning:\n\(losses.joined(separator: "\n"))")
            #expect(daemon.waitForLine(from: linesBefore, timeout: 30) { $0.contains("watch restored") } != nil, "\(daemon.log)")
            print(String(format: "partition | %@ | blackhole %.0f s | blackhole → 'watch lost' %.1f s | heal → nginx serves the new address %.1f s",
                         Self.real ? "defaults" : "watch_silence 3s, bookmarks 1 s", hold, noticed, served))
            world.finish(daemon, fault: "blackholed API path (\(Self.real ? "defaults" : "scaled"))")
        }
    }
}
