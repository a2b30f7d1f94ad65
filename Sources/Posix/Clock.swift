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
