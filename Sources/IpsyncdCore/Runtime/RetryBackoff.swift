/// Retry delays after a failed check or reload: 1 s doubling to 60 s, each jittered by ±20 % (never above the cap).
struct Backoff: Sendable {
    var base: Duration = .seconds(1)
    var cap: Duration = .seconds(60)
    private(set) var attempt = 0

    /// The next delay; `random` is in 0..<1 (injected so that tests are exact).
    mutating func next(random: Double = Double.random(in: 0..<1)) -> Duration {
        let exponent = min(attempt, 16)
        attempt += 1
        let plain = min(base * (1 << exponent), cap)
        return min(plain * (0.8 + 0.4 * random), cap)
    }

    mutating func reset() { attempt = 0 }
}
