import Foundation
import Testing
import TestSupport

/// Issue 10 items 2, 3 and 5 against the real binary: a hung credential plugin, an API server that
/// drips its answer, a watch that stays denied while LIST is allowed.
@Suite("FaultMatrix: hung plugins, deadlines, watch state")
struct FaultDeadlineTests {
    /// A plugin that records its process group and never answers.
    static let hungPlugin = """
        #!/bin/sh
        echo $$ >> "$(dirname "$0")/plugin.pgids"
        sleep 1000 &
        wait
        """

    @Test("a hung exec plugin: status and check answer at exec_timeout, say it timed out, leave no process")
    func hungPluginOneShot() async throws {
        try await blocking {
            let world = try FaultWorld(settings: ["exec_timeout": "2s"])
            try world.useExecPlugin(Self.hungPlugin)
            for command in ["status", "check"] {
                let result = try IpsyncdProcess.run([command, "--config", world.configPath], timeout: 120)
                let output = result.stdoutText + result.stderr
                #expect(result.status != 0, "\(command): \(output)")
                #expect(output.contains("timed out: no credential within 2 s"), "\(command): \(output)")
                // The plugin sleeps 1000 s: that status and check exit at all (within the 120 s safety net) is the proof.
            }
            let groups = world.pluginGroups
            #expect(groups.count >= 2)
            for pgid in groups { #expect(world.groupIsGone(pgid), "plugin group \(pgid) outlived ipsyncd") }
        }
    }

    @Test("a hung exec plugin: SIGTERM of ipsyncd run leaves no plugin behind")
    func hungPluginDaemonStops() async throws {
        try await blocking {
            let world = try FaultWorld(settings: ["exec_timeout": "10m"])
            try world.useExecPlugin(Self.hungPlugin)
            let daemon = try IpsyncdProcess(["run", "--config", world.configPath, "--log-format", "text"])
            #expect(eventuallyBlocking(timeout: .seconds(30)) { !world.pluginGroups.isEmpty }, "the plugin never started:\n\(daemon.log)")
            daemon.signal(SIGTERM)
            #expect(daemon.waitForExit(timeout: 30) != nil, "ipsyncd run did not stop:\n\(daemon.log)")
            for pgid in world.pluginGroups { #expect(world.groupIsGone(pgid), "plugin group \(pgid) outlived ipsyncd run") }
        }
    }

    @Test("an API server that drips its answer: status answers by api_timeout", arguments: ["headers", "body"])
    func drippingServerOneShot(phase: String) async throws {
        try await blocking {
            let world = try FaultWorld(settings: ["api_timeout": "2s"])
            try world.api.fault("drip", extra: ["phase": phase, "intervalMs": 500])
            let result = try IpsyncdProcess.run(["status", "--config", world.configPath], timeout: 120)
            let output = result.stdoutText + result.stderr
            #expect(result.status != 0, "\(output)")
            #expect(output.contains(phase == "headers" ? "no response from" : "did not finish answering within 2 s"), "\(output)")
        }
    }

    @Test("the API stops answering a relist: one warning, retried, converged")
    func drippingServerDaemon() async throws {
        try await blocking {
            let world = try FaultWorld(settings: ["api_timeout": "2s"])
            let daemon = try world.startDaemon()
            try world.api.fault("drip", count: 3, extra: ["phase": "headers", "intervalMs": 500])
            try world.api.fault("gone-status")
            try world.api.fault("drop")   // the next watch meets the 410 and relists into the drip
            try world.recreate()
            #expect(world.converges(reloads: 1, timeout: 60), "\(daemon.log)")
            let lost = daemon.lines.filter { $0.contains("watch lost") }
            #expect(lost.count == 1 && lost[0].contains("no response from"), "\(daemon.log)")
            world.finish(daemon, fault: "API answers a byte every 0.5 s (api_timeout 2s)")
        }
    }

    @Test("watch denied (403) while LIST is allowed: one 'watch lost', 'restored' only when a watch opens")
    func deniedWatch() async throws {
        try await blocking {
            let world = try FaultWorld()
            let daemon = try world.startDaemon()
            try world.api.fault("status", count: 4, extra: ["code": 403, "verb": "watch"])
            try world.api.fault("drop")
            try world.recreate()
            #expect(world.converges(reloads: 1, timeout: 60), "\(daemon.log)")
            #expect(daemon.waitForLine(timeout: 60) { $0.contains("watch restored") } != nil, "\(daemon.log)")
            #expect(daemon.count { $0.contains("watch lost") } == 1, "\(daemon.log)")
            let restored = daemon.lines.filter { $0.contains("watch restored") }
            #expect(restored.count == 1 && restored[0].contains("after 4 attempts"), "\(daemon.log)")
            world.finish(daemon, fault: "watch denied 403 ×4, list allowed")
        }
    }
}

extension FaultWorld {
    /// Replaces the kubeconfig's user by an exec plugin running `script` (written beside it).
    func useExecPlugin(_ script: String) throws {
        let plugin = try dir.write("plugin.sh", script)
        chmod(plugin, 0o755)
        try dir.write("kubeconfig.yaml", """
            apiVersion: v1
            kind: Config
            clusters:
            - name: test
              cluster:
                server: \(api.url)
                certificate-authority: \(caFile)
            users:
            - name: test-user
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: \(plugin)
                  interactiveMode: Never
            contexts:
            - name: test
              context:
                cluster: test
                user: test-user
                namespace: flowmaster
            current-context: test

            """)
    }

    /// The process groups of the plugin runs so far.
    var pluginGroups: [pid_t] {
        let text = (try? String(contentsOfFile: dir.file("plugin.pgids"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Whether no process of group `pgid` is left (a killed member may be a zombie for a moment).
    func groupIsGone(_ pgid: pid_t) -> Bool {
        eventuallyBlocking(timeout: .seconds(10)) { kill(-pgid, 0) == -1 && errno == ESRCH }
    }
}
