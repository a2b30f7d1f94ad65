import Synchronization

/// The delays the watcher asked to sleep; they are not waited out.
public final class DelayRecorder: Sendable {
    public init() {}
    private let delays = Mutex<[Duration]>([])
    public var all: [Duration] { delays.withLock { $0 } }
    public func record(_ delay: Duration) { delays.withLock { $0.append(delay) } }
}
