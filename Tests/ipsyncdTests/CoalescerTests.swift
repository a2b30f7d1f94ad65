import Testing
@testable import IpsyncdCore

/// Synthetic time: milliseconds from an arbitrary origin.
struct FakeInstant: InstantProtocol, Sendable, CustomStringConvertible {
    var ms: Int64
    func advanced(by duration: Duration) -> FakeInstant { FakeInstant(ms: ms + ResyncLine.milliseconds(duration)) }
    func duration(to other: FakeInstant) -> Duration { .milliseconds(other.ms - ms) }
    static func < (a: FakeInstant, b: FakeInstant) -> Bool { a.ms < b.ms }
    var description: String { "\(ms)ms" }
}

func at(_ ms: Int64) -> FakeInstant { FakeInstant(ms: ms) }

/// Drives a coalescer over events at the given times; returns the instants at which resyncs ran.
/// `reloads`: whether each resync reloaded.
func simulate(_ events: [Int64], settle: Int64 = 50, minReload: Int64 = 1000, until end: Int64 = 60_000,
              reloads: Bool = true, lastReload: Int64? = nil) -> [Int64] {
    var coalescer = Coalescer<FakeInstant>(settle: .milliseconds(settle), minReloadInterval: .milliseconds(minReload))
    if let lastReload { coalescer.reloaded(at: at(lastReload)) }
    var pending = events.sorted()[...]
    var fired: [Int64] = []
    while true {
        let nextEvent = pending.first
        let due = coalescer.due?.ms
        // The loop wakes at whichever comes first; an event exactly at the due time arrives first.
        if let nextEvent, due == nil || nextEvent <= due! {
            coalescer.event(at: at(nextEvent))
            pending.removeFirst()
        } else if let due, due <= end {
            fired.append(due)
            coalescer.fired()
            if reloads { coalescer.reloaded(at: at(due)) }
        } else {
            return fired
        }
    }
}

@Suite struct CoalescerTests {
    @Test func nothingPendingMeansNoWakeUp() {
        let coalescer = Coalescer<FakeInstant>(settle: .milliseconds(50), minReloadInterval: .seconds(1))
        #expect(coalescer.due == nil)
        #expect(!coalescer.isPending)
    }

    @Test func oneEventResyncsAfterSettle() {
        #expect(simulate([100]) == [150])
    }

    @Test func burstOfThreeRecreatesGivesOneResync() {
        // delete + add of one Service, then a second Service's update: all within settle of each other.
        #expect(simulate([100, 120, 160]) == [210])
    }

    @Test func neverQuietStreamIsAppliedOneSecondAfterItsFirstEvent() {
        let stream = Array(stride(from: Int64(0), through: 5000, by: 30))
        let fired = simulate(stream, minReload: 0)
        #expect(fired.first == 1000)
        // Later resyncs each come at most 1 s after the first event that followed the previous one.
        for (previous, next) in zip(fired, fired.dropFirst()) { #expect(next - previous <= 1030) }
        #expect(fired.last! >= 5000)
    }

    @Test func quietGapSplitsBursts() {
        #expect(simulate([0, 10, 2000, 2020], minReload: 0) == [60, 2070])
    }

    @Test func reloadsAreAtLeastMinReloadIntervalApart() {
        #expect(simulate([0, 100, 200], minReload: 1000) == [50, 1050])
        let fired = simulate(Array(stride(from: Int64(0), through: 10_000, by: 70)), minReload: 3000)
        for (previous, next) in zip(fired, fired.dropFirst()) { #expect(next - previous >= 3000) }
    }

    @Test func minReloadIntervalCountsFromTheLastReloadBeforeTheBurst() {
        #expect(simulate([500], lastReload: 0) == [1000])
        #expect(simulate([1500], lastReload: 0) == [1550])
    }

    @Test func resyncsThatDoNotReloadAreNotHeldBack() {
        #expect(simulate([0, 100, 200], minReload: 1000, reloads: false) == [50, 150, 250])
    }

    @Test func settleLongerThanTheCapStillSettles() {
        #expect(simulate([0], settle: 2000, minReload: 0) == [2000])
        #expect(simulate([0, 1500], settle: 2000, minReload: 0) == [2000])
    }

    @Test func zeroSettleResyncsImmediately() {
        #expect(simulate([7], settle: 0, minReload: 0) == [7])
    }

    /// Every sequence of up to 4 events on a 0…1200 ms grid: exactly the invariants of docs/design.md §4/§6.
    @Test func exhaustiveInvariants() {
        let grid: [Int64] = [0, 40, 90, 300, 700, 1100, 1200]
        var sequences: [[Int64]] = [[]]
        for _ in 0..<4 { sequences = sequences + sequences.flatMap { s in grid.filter { $0 >= (s.last ?? 0) }.map { s + [$0] } } }
        for events in Set(sequences) where !events.isEmpty {
            for minReload: Int64 in [0, 1000] {
                let fired = simulate(events, settle: 50, minReload: minReload)
                // Every event is covered by a resync at or after it.
                #expect(fired.last! >= events.last!, "\(events)")
                for event in events {
                    let next = fired.first { $0 >= event }!
                    // Never later than settle after a quiet moment, nor 1 s after the burst's first event,
                    // unless held back by the reload interval.
                    #expect(next - event <= max(1000, minReload), "\(events) → \(fired)")
                }
                for (previous, next) in zip(fired, fired.dropFirst()) { #expect(next - previous >= minReload) }
                // No resync without an event since the previous one.
                for (previous, next) in zip([Int64.min] + fired, fired) {
                    #expect(events.contains { $0 > previous && $0 <= next } || events.contains { $0 == next },
                            "\(events) → \(fired)")
                }
            }
        }
    }

    @Test func backoffDoublesToTheCapWithJitter() {
        var backoff = Backoff()
        let plain = (0..<8).map { _ in backoff.next(random: 0.5) }
        #expect(plain == [1, 2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
        var jittered = Backoff()
        #expect(jittered.next(random: 0) == .milliseconds(800))
        #expect(jittered.next(random: 0.999_999) > .milliseconds(2399))
        jittered.reset()
        #expect(jittered.attempt == 0)
    }
}
