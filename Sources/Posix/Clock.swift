import Glibc

extension Posix {
    /// Wall-clock time (CLOCK_REALTIME), for timestamps in log lines and notes; never for measuring intervals.
    @Sendable public static func realtimeNow() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }

    /// Wall-clock seconds since the epoch.
    public static func epochSeconds() -> Int { Int(realtimeNow().tv_sec) }
}

extension Posix {
    /// CLOCK_MONOTONIC in nanoseconds: the clock other processes read too (Python's `time.monotonic_ns`), so
    /// that a trace line's instants can be lined up with a benchmark's own.
    public static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
