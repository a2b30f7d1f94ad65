import Dispatch
import Synchronization

import Glibc

/// Signals as an `AsyncSequence`, by the self-pipe pattern: `init` installs our own handler with `sigaction`
/// before it returns (so SIGTERM or SIGHUP never take their default action once it has), the handler only
/// writes the signal's number as one byte into a pipe, and a Dispatch read source on the pipe yields the numbers.
/// A pipe buffers: a signal that arrives before the read source is armed is read when it is, never lost.
/// Handlers are reset to the default by exec, so spawned programs do not inherit them.
final class UnixSignals: AsyncSequence, Sendable {
    typealias Element = Int32
    private let stream: AsyncStream<Int32>
    private let subscription: Int

    init(_ signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream(bufferingPolicy: .bufferingNewest(16))
        self.stream = stream
        subscription = SignalPipe.shared.subscribe(Set(signals), continuation)
    }

    deinit { SignalPipe.shared.unsubscribe(subscription) }

    func makeAsyncIterator() -> AsyncStream<Int32>.Iterator { stream.makeAsyncIterator() }

    static func name(_ number: Int32) -> String {
        switch number {
        case SIGHUP: "SIGHUP"
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        default: "signal \(number)"
        }
    }
}

/// The pipe's write end, for the handler. Set once, before any handler is installed.
private let signalPipeWriteEnd = Atomic<Int32>(-1)

/// Runs in signal context: only async-signal-safe calls (one write), errno as it was.
private func writeSignalNumber(_ number: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: number)
    // Non-blocking: when the pipe is full (64 KiB of unread signals) this one is dropped, never waited for.
    _ = write(signalPipeWriteEnd.load(ordering: .relaxed), &byte, 1)
    errno = saved
}

/// One per process (a signal's handler is): the pipe, the read source and who wants which signal.
/// `@unchecked`: the source is only touched in `init`; the subscribers are behind the mutex.
private final class SignalPipe: @unchecked Sendable {
    static let shared = SignalPipe()

    private struct State {
        var nextID = 0
        var subscribers: [Int: (signals: Set<Int32>, continuation: AsyncStream<Int32>.Continuation)] = [:]
        var installed: Set<Int32> = []
    }
    private let state = Mutex(State())
    private let readEnd: Int32
    // Kept alive for the process's lifetime.
    private let source: any DispatchSourceRead

    private init() {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { fatalError("cannot create the signal pipe: \(String(cString: strerror(errno)))") }
        // pipe2 is not exported to Swift; ProcessGroup.spawn closes every descriptor above 2 in the child anyway.
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        readEnd = ends[0]
        signalPipeWriteEnd.store(ends[1], ordering: .relaxed)
        source = DispatchSource.makeReadSource(fileDescriptor: ends[0], queue: DispatchQueue(label: "ipsyncd.signals"))
        source.setEventHandler { [unowned self] in self.drain() }
        source.resume()
    }

    /// Installs the handler for each signal not yet handled; from the moment this returns, each of `signals`
    /// reaches `continuation`.
    func subscribe(_ signals: Set<Int32>, _ continuation: AsyncStream<Int32>.Continuation) -> Int {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = (signals, continuation)
            for number in signals.subtracting(state.installed) {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = writeSignalNumber
                action.sa_flags = SA_RESTART
                sigemptyset(&action.sa_mask)
                sigaction(number, &action, nil)
                state.installed.insert(number)
            }
            return id
        }
    }

    /// The handler stays: a signal nobody waits for any more is read and dropped, as SIG_IGN would.
    func unsubscribe(_ id: Int) {
        let removed = state.withLock { $0.subscribers.removeValue(forKey: id) }
        removed?.continuation.finish()
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            guard count > 0 else { return }   // EAGAIN: drained (EINTR: the source fires again)
            let numbers = buffer[..<count].map { Int32($0) }
            let targets = state.withLock { state in
                numbers.map { number in state.subscribers.values.filter { $0.signals.contains(number) }.map(\.continuation) }
            }
            for (number, continuations) in zip(numbers, targets) {
                for continuation in continuations { continuation.yield(number) }
            }
        }
    }
}
