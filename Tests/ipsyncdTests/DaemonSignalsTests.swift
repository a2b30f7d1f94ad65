import Testing
@testable import IpsyncdCore

import Glibc

@Suite struct DaemonSignalsTests {
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

    @Test func names() {
        #expect(UnixSignals.name(SIGHUP) == "SIGHUP")
        #expect(UnixSignals.name(SIGTERM) == "SIGTERM")
    }
}
