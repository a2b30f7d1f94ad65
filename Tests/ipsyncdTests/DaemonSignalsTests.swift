import Posix
import Testing
import TestSupport
@testable import IpsyncdCore

import Glibc

/// Serialized: the signals go to this whole test process, and each test counts what arrives.
@Suite(.serialized) struct DaemonSignalsTests {
    /// SIGUSR2 stands in for SIGHUP/SIGTERM: the test process must not react to those itself.
    @Test func signalArrivesAsAnElementAndDoesNotKill() async throws {
        let signals = UnixSignals([SIGUSR2])
        var iterator = signals.makeAsyncIterator()
        kill(getpid(), SIGUSR2)
        let first = await iterator.next()
        #expect(first == SIGUSR2)
        kill(getpid(), SIGUSR2)
        #expect(await iterator.next() == SIGUSR2)
    }

    /// Failed before the self-pipe: the second sequence's `signal(SIG_IGN)` replaced the handler Dispatch had
    /// installed for the first, Dispatch did not install it again for a signal it already watched, and the
    /// signal was ignored for both.
    @Test func everySequenceOfASignalReceivesIt() async throws {
        let first = UnixSignals([SIGUSR1])
        let second = UnixSignals([SIGUSR1])
        kill(getpid(), SIGUSR1)
        #expect(await Self.next(first) == SIGUSR1)
        #expect(await Self.next(second) == SIGUSR1)
    }

    /// A signal whose sequence is gone is dropped, not its default action (SIGUSR1 would end the test
    /// process); a sequence made later receives the next one.
    @Test func aSignalWithoutASequenceIsDroppedAndALaterSequenceReceivesIt() async throws {
        do {
            let gone = UnixSignals([SIGUSR1])
            _ = gone
        }
        kill(getpid(), SIGUSR1)
        let later = UnixSignals([SIGUSR1])
        kill(getpid(), SIGUSR1)
        #expect(await Self.next(later) == SIGUSR1)
    }

    @Test func names() {
        #expect(UnixSignals.name(SIGHUP) == "SIGHUP")
        #expect(UnixSignals.name(SIGTERM) == "SIGTERM")
    }

    /// The real binary: its signal handling is in place before it says "starting", so a SIGHUP sent the
    /// moment that line appears is acted on, every time.
    @Test func sighupRightAfterStartingIsNeverLost() async throws {
        let dir = try TempDir()
        let kubeconfig = dir.file("kubeconfig")
        // An API server that refuses connections: the daemon runs (and retries) without one.
        try write(kubeconfig, """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x

            """)
        try write(dir.file("site"), "server { location /api/ { proxy_pass http://10.0.0.1:80; } }\n")
        try write(dir.file("ipsyncd.yaml"), "namespace: default\n")
        for round in 1...3 {
            let daemon = try IpsyncdProcess(["run", "--dry-run", "--log-format", "text", "--config", dir.file("ipsyncd.yaml"),
                                             "--kubeconfig", kubeconfig, "--site", dir.file("site"),
                                             "--route", "/api/=svc:80", "--state-dir", dir.file("state")])
            let starting = try await blocking { daemon.waitForLine { $0.contains("starting:") } }
            #expect(starting != nil, "round \(round): \(daemon.log)")
            daemon.signal(SIGHUP)
            let reloaded = try await blocking { daemon.waitForLine { $0.contains("SIGHUP: config reloaded") } }
            #expect(reloaded != nil, "round \(round): \(daemon.log)")
            daemon.signal(SIGTERM)
            #expect(try await blocking { daemon.waitForExit() } == 0, "round \(round): \(daemon.log)")
        }
    }

    /// The first element of `signals`, or nil after `limit` (a lost signal fails the test, not hangs it).
    static func next(_ signals: UnixSignals, limit: Duration = .seconds(10)) async -> Int32? {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask { for await number in signals { return number }; return nil }
            group.addTask { try? await Task.sleep(for: limit); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func write(_ path: String, _ text: String) throws {
        try Posix.replace(path, with: Array(text.utf8), mode: 0o644)
    }
}
