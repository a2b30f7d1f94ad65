import K8sWatch
import Testing
@testable import IpsyncdCore

/// The daemon's decisions on synthetic time (`FakeInstant`): no clock, no files, no commands.
struct SchedulerDriver {
    typealias Timing = Scheduler<FakeInstant>.Timing
    typealias Action = Scheduler<FakeInstant>.Action

    static let timing = Timing(settle: .milliseconds(20), minReloadInterval: .zero, resyncInterval: .seconds(300),
                               watchdogInterval: nil, applyWatchdogLimit: .seconds(14), stopGrace: .seconds(4))

    var scheduler: Scheduler<FakeInstant>
    var now: Int64 = 0
    /// Every action with the instant it was asked for.
    var log: [(ms: Int64, action: Action)] = []

    init(_ configure: (inout Timing) -> Void = { _ in }) {
        var timing = Self.timing
        configure(&timing)
        scheduler = Scheduler(timing: timing, now: at(0))
    }

    @discardableResult
    mutating func send(_ event: Scheduler<FakeInstant>.Event, at ms: Int64) -> [Action] {
        advance(to: ms)
        let actions = scheduler.handle(event, at: at(ms))
        log += actions.map { (ms, $0) }
        return actions
    }

    /// Fires every wake-up the scheduler asks for up to `ms`, as the shell's timers would.
    mutating func advance(to ms: Int64) {
        var wakeUps = 0
        while let wake = scheduler.nextWake, wake.ms <= ms {
            wakeUps += 1
            guard wakeUps < 100_000 else { Issue.record("the scheduler never stops asking to wake up at \(wake)"); return }
            now = max(now, wake.ms)
            let actions = scheduler.handle(.timer, at: at(now))
            log += actions.map { (now, $0) }
        }
        now = max(now, ms)
    }

    func times(of match: (Action) -> Bool) -> [Int64] { log.filter { match($0.action) }.map(\.ms) }
    var applies: [Int64] { times { if case .apply = $0 { true } else { false } } }
    var pings: [Int64] { times { $0 == .pingWatchdog } }
}

func snapshot(_ ip: String, version: String = "1") -> ServiceSnapshot {
    ServiceSnapshot(services: ["api-gateway": ServiceInfo(name: "api-gateway", clusterIP: ip,
                                                          ports: [ServicePort(name: "http", port: 9000)])],
                    resourceVersion: version)
}

@Suite struct SchedulerTests {
    @Test func nothingHappensWithoutASnapshot() {
        var driver = SchedulerDriver()
        driver.advance(to: 60_000)
        #expect(driver.log.isEmpty)
        #expect(driver.scheduler.nextWake == at(300_000))
    }

    @Test func aSnapshotIsAppliedAfterTheSettle() {
        var driver = SchedulerDriver()
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 100)
        driver.advance(to: 1_000)
        #expect(driver.log.map(\.ms) == [120])
        #expect(driver.log.first?.action == .apply(snapshot("10.43.7.3")))
        #expect(driver.scheduler.isApplying)
    }

    @Test func burstOfSnapshotsGivesOneApplyOfTheLast() {
        var driver = SchedulerDriver { $0.settle = .seconds(2) }
        driver.send(.snapshot(snapshot("10.43.7.1", version: "1")), at: 0)
        driver.send(.snapshot(snapshot("10.43.7.2", version: "2")), at: 5)
        driver.send(.snapshot(snapshot("10.43.7.3", version: "3")), at: 10)
        driver.advance(to: 10_000)
        #expect(driver.log.map(\.action) == [.apply(snapshot("10.43.7.3", version: "3"))])
        // Capped at the settle (2 s) after the first snapshot.
        #expect(driver.applies == [2_000])
    }

    @Test func oneApplyAtATimeAndEventsDuringItStartTheNextBurst() {
        var driver = SchedulerDriver()
        driver.send(.snapshot(snapshot("10.43.7.1")), at: 0)
        driver.advance(to: 20)
        driver.send(.snapshot(snapshot("10.43.7.2")), at: 30)
        driver.advance(to: 5_000)
        #expect(driver.applies == [20])
        let after = driver.send(.applyFinished(failed: false, touchedReload: true, jitter: 0.5), at: 5_000)
        #expect(after == [.report(retryIn: nil, ready: true), .apply(snapshot("10.43.7.2"))])
    }

    @Test func readyOnlyAfterTheFirstApplyThatDidNotFail() {
        var driver = SchedulerDriver()
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 0)
        driver.advance(to: 20)
        #expect(driver.send(.applyFinished(failed: true, touchedReload: false, jitter: 0.5), at: 50)
                == [.report(retryIn: .seconds(1), ready: false)])
        driver.advance(to: 1_050)
        #expect(driver.send(.applyFinished(failed: false, touchedReload: false, jitter: 0.5), at: 1_100)
                == [.report(retryIn: nil, ready: true)])
        driver.send(.snapshot(snapshot("10.43.7.4")), at: 2_000)
        driver.advance(to: 2_020)
        #expect(driver.send(.applyFinished(failed: false, touchedReload: false, jitter: 0.5), at: 2_030)
                == [.report(retryIn: nil, ready: false)])
    }

    @Test func failedApplyIsRetriedWithDoublingBackoffAndResetBySuccess() {
        var driver = SchedulerDriver()
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 0)
        var retries: [Duration?] = []
        for _ in 0..<4 {
            driver.advance(to: driver.scheduler.nextWake!.ms)
            let actions = driver.send(.applyFinished(failed: true, touchedReload: false, jitter: 0.5), at: driver.now)
            if case .report(let retryIn, _) = actions.first { retries.append(retryIn) }
        }
        // jitter 0.5: exactly 1 s, 2 s, 4 s, 8 s after each failure.
        #expect(retries == [.seconds(1), .seconds(2), .seconds(4), .seconds(8)])
        #expect(driver.applies == [20, 1_020, 3_020, 7_020])
        driver.advance(to: 15_020)
        driver.send(.applyFinished(failed: false, touchedReload: false, jitter: 0.5), at: 15_020)
        driver.send(.snapshot(snapshot("10.43.7.4")), at: 16_000)
        driver.advance(to: 16_020)
        driver.send(.applyFinished(failed: true, touchedReload: false, jitter: 0.5), at: 16_020)
        #expect(driver.scheduler.nextWake == at(17_020))
    }

    @Test func reloadsKeepMinReloadIntervalApart() {
        var driver = SchedulerDriver { $0.minReloadInterval = .seconds(1) }
        driver.send(.snapshot(snapshot("10.43.7.1")), at: 0)
        driver.advance(to: 20)
        driver.send(.applyFinished(failed: false, touchedReload: true, jitter: 0.5), at: 100)
        driver.send(.snapshot(snapshot("10.43.7.2")), at: 200)
        driver.advance(to: 5_000)
        #expect(driver.applies == [20, 1_100])
    }

    @Test func fullResyncEveryResyncIntervalRelistsAndApplies() {
        var driver = SchedulerDriver { $0.resyncInterval = .seconds(10) }
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 0)
        driver.advance(to: 20)
        driver.send(.applyFinished(failed: false, touchedReload: false, jitter: 0.5), at: 30)
        driver.advance(to: 10_000)
        #expect(driver.times { $0 == .relist } == [10_000])
        driver.advance(to: 10_020)
        #expect(driver.applies == [20, 10_020])
    }

    @Test func watchdogPingsWhileIdleAndDuringAnApplyUpToItsLimit() {
        var driver = SchedulerDriver { $0.watchdogInterval = .seconds(1); $0.applyWatchdogLimit = .milliseconds(3_500) }
        driver.advance(to: 3_000)
        #expect(driver.pings == [1_000, 2_000, 3_000])
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 3_100)
        driver.advance(to: 3_120)   // the apply starts at 3 120 and hangs
        driver.advance(to: 20_000)
        #expect(driver.pings == [1_000, 2_000, 3_000, 4_000, 5_000, 6_000])
        driver.send(.applyFinished(failed: false, touchedReload: false, jitter: 0.5), at: 20_000)
        #expect(driver.pings.last == 20_000)
        #expect(driver.scheduler.nextWake == at(21_000))
    }

    @Test func stopWhileIdleAnnouncesAndExitsAtOnce() {
        var driver = SchedulerDriver()
        #expect(driver.send(.stop(signal: "SIGTERM"), at: 10) == [.announceStop(signal: "SIGTERM"), .exit(0)])
        #expect(driver.scheduler.nextWake == nil)
        #expect(driver.send(.snapshot(snapshot("10.43.7.3")), at: 20).isEmpty)
    }

    @Test func stopDuringAnApplyWaitsForItThenExits() {
        var driver = SchedulerDriver()
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 0)
        driver.advance(to: 20)
        #expect(driver.send(.stop(signal: "SIGINT"), at: 100).isEmpty)
        driver.send(.snapshot(snapshot("10.43.7.4")), at: 200)
        #expect(driver.send(.applyFinished(failed: false, touchedReload: true, jitter: 0.5), at: 3_000)
                == [.report(retryIn: nil, ready: true), .announceStop(signal: "SIGINT"), .exit(0)])
        #expect(driver.applies == [20])
    }

    @Test func stopDuringAHungApplyAbandonsItAfterTheGrace() {
        var driver = SchedulerDriver { $0.stopGrace = .seconds(1) }
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 0)
        driver.advance(to: 20)
        driver.send(.stop(signal: "SIGTERM"), at: 500)
        #expect(driver.scheduler.nextWake == at(1_500))
        driver.advance(to: 10_000)
        #expect(driver.log.suffix(2).map(\.action) == [.abandonApply(grace: .seconds(1)), .exit(0)])
        #expect(driver.log.suffix(2).map(\.ms) == [1_500, 1_500])
        #expect(driver.send(.applyFinished(failed: false, touchedReload: true, jitter: 0.5), at: 10_000).isEmpty)
    }

    @Test func newSettingsResyncTheSnapshotAtOnceAndKeepTheLastReload() {
        var driver = SchedulerDriver { $0.minReloadInterval = .seconds(1) }
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 0)
        driver.advance(to: 20)
        driver.send(.applyFinished(failed: false, touchedReload: true, jitter: 0.5), at: 100)
        var timing = SchedulerDriver.timing
        timing.minReloadInterval = .seconds(2)
        driver.send(.settingsChanged(timing, newSource: false), at: 500)
        driver.advance(to: 5_000)
        #expect(driver.applies == [20, 2_100])
    }

    @Test func newSourceForgetsTheOldSnapshot() {
        var driver = SchedulerDriver()
        driver.send(.snapshot(snapshot("10.43.7.3")), at: 0)
        driver.advance(to: 20)
        driver.send(.applyFinished(failed: false, touchedReload: false, jitter: 0.5), at: 30)
        driver.send(.settingsChanged(SchedulerDriver.timing, newSource: true), at: 100)
        driver.advance(to: 5_000)
        #expect(driver.applies == [20])
        // The resync the new settings asked for waited for this first snapshot of the new watch: no settle.
        driver.send(.snapshot(snapshot("10.43.7.4")), at: 5_000)
        #expect(driver.applies == [20, 5_000])
    }

    @Test func nextWakeIsNeverInThePastAfterHandlingATimer() {
        var driver = SchedulerDriver { $0.watchdogInterval = .milliseconds(700); $0.resyncInterval = .seconds(3) }
        var ms: Int64 = 0
        for step in 0..<200 {
            ms += Int64(step % 7) * 37
            if step % 5 == 0 { driver.send(.snapshot(snapshot("10.43.7.\(step % 250)")), at: ms) }
            if driver.scheduler.isApplying && step % 3 == 0 {
                driver.send(.applyFinished(failed: step % 2 == 0, touchedReload: true, jitter: 0.3), at: ms)
            }
            driver.advance(to: ms)
            if let wake = driver.scheduler.nextWake { #expect(wake.ms > ms) }
        }
    }
}
