import Foundation
import Testing
import TestSupport

import Glibc

/// What the fault matrix found (docs/reliability.md, "Findings"): these fail until the sources are fixed.
@Suite("FaultMatrix: findings")
struct FaultFindingsTests {
    /// docs/design.md §6.8: leftovers are removed at start-up. A one-shot `sync` is a start-up too: run from
    /// cron after crashes, it must not let staged files pile up.
    @Test("a sync removes the staged files a killed sync left")
    func syncRemovesLeftovers() async throws {
        try await blocking {
            let world = try FaultWorld(settings: ["check_command": "sleep 30; : {config}"])
            try world.move(to: FaultWorld.randomAddress())
            let sync = ["sync", "--config", world.configPath, "--log-format", "text"]
            let hung = try IpsyncdProcess(sync)
            // Killed while its staged check runs: the staged candidate and main config stay behind.
            #expect(eventuallyBlocking(timeout: .seconds(10)) { world.leftovers.count >= 2 }, "\(hung.log)")
            hung.kill9()
            world.settings["check_command"] = world.nginx.checkCommand
            try world.writeConfig()
            let next = try IpsyncdProcess.run(sync)
            #expect(next.status == 0, "\(next.stderr)")
            #expect(world.leftovers.isEmpty, "leftovers: \(world.leftovers)")
        }
    }

    /// A server that resets the connection during the handshake is down or dying: the message must
    /// not send the operator to the CA.
    @Test("a reset during the TLS handshake is a connection error, not a certificate-authority problem")
    func resetDuringHandshake() async throws {
        try await blocking {
            let world = try FaultWorld(relay: true)
            let port = world.relay!.port
            world.stopRelay()
            let resetting = try APIRelay(port: port, upstreamPort: world.api.port, resetting: true)
            defer { resetting.stop() }
            let check = try IpsyncdProcess.run(["check", "--config", world.configPath, "--log-format", "text"])
            #expect(check.status == 1)
            let output = check.stdoutText + check.stderr
            #expect(output.contains("127.0.0.1:\(port)"), "\(output)")
            #expect(!output.contains("certificate-authority"), "\(output)")
        }
    }

    /// With no `{config}` in the check command the check runs in place; the reason given must be that.
    @Test("a failed in-place check names the check command's missing {config}, not a missing include")
    func inPlaceCheckReason() async throws {
        try await blocking {
            let world = try FaultWorld(settings: ["check_command": "echo refused >&2; exit 1"])
            try world.move(to: FaultWorld.randomAddress())
            let sync = try IpsyncdProcess.run(["sync", "--config", world.configPath, "--log-format", "text"])
            #expect(sync.status == 1)
            #expect(!sync.stderr.contains("no include loads the site"), "\(sync.stderr)")
        }
    }
}
