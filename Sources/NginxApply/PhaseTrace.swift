import Posix
import Synchronization

/// The instants of one resync's phases, from the Service event's arrival to new nginx workers, for the
/// `resync.trace` debug line (docs/design.md §8): where the time between an event and nginx serving the new
/// address goes. CLOCK_MONOTONIC, so that a benchmark can line the instants up with its own.
public final class PhaseTrace: Sendable {
    public enum Phase: String, Sendable {
        case event, settled, planned, staged, checkStart = "check_start", checkEnd = "check_end",
             renamed, directorySynced = "dir_synced", reloadStart = "reload_start", reloadSent = "reload_sent",
             workersSeen = "workers_seen"
    }

    private let marks = Mutex<[(phase: Phase, at: UInt64)]>([])

    public init() {}

    /// Records `phase` now (or at `nanoseconds`, for an instant taken elsewhere).
    public func mark(_ phase: Phase, at nanoseconds: UInt64 = Posix.monotonicNanoseconds()) {
        marks.withLock { $0.append((phase, nanoseconds)) }
    }

    /// The marks in time order.
    public var phases: [(phase: Phase, at: UInt64)] {
        marks.withLock { $0 }.sorted { $0.at < $1.at }
    }

    /// `t0=<ns> event=+0.00 settled=+50.12 …` in milliseconds after the first mark; empty without marks.
    public var text: String {
        let phases = self.phases
        guard let first = phases.first?.at else { return "" }
        let steps = phases.map { mark in
            let ms = Double(mark.at - first) / 1e6
            return "\(mark.phase.rawValue)=+\((ms * 100).rounded() / 100)"
        }
        return (["t0=\(first)"] + steps).joined(separator: " ")
    }
}
