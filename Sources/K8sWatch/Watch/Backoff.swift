/// Jittered exponential backoff between list/watch rounds (client-go's Reflector: 800 ms doubling to
/// a 30 s cap, reset after 2 minutes without trouble). Pure: the caller passes the time and the
/// random number.
struct Backoff: Sendable {
    var initial: Duration = .milliseconds(800)
    var cap: Duration = .seconds(30)
    var resetAfter: Duration = .seconds(120)
    /// Fraction of the delay taken off at random, so that many clients do not retry in step.
    /// The delay is in (base × (1 − jitter), base], never above `cap`.
    var jitter: Double = 0.25

    private(set) var step = 0
    private var waitEnds: ContinuousClock.Instant?

    init(initial: Duration = .milliseconds(800), cap: Duration = .seconds(30),
         resetAfter: Duration = .seconds(120), jitter: Double = 0.25) {
        self.initial = initial
        self.cap = cap
        self.resetAfter = resetAfter
        self.jitter = jitter
    }

    /// The delay before the next attempt; `random` is in [0, 1).
    mutating func next(now: ContinuousClock.Instant, random: Double) -> Duration {
        if let waitEnds, now - waitEnds >= resetAfter { step = 0 }
        var base = initial
        for _ in 0..<step where base < cap { base = base * 2 }
        base = min(base, cap)
        if base < cap { step += 1 }
        let delay = base * (1 - jitter * min(max(random, 0), 1))
        waitEnds = now + delay
        return delay
    }
}
