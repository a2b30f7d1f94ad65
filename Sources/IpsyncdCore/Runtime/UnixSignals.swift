import Dispatch

import Glibc

/// Signals as an `AsyncSequence`, on `DispatchSource` signal sources. The signals' default actions are turned off
/// first (SIG_IGN), so that SIGTERM or SIGHUP never kill the process before the loop has seen them.
/// `@unchecked`: the sources are only touched in `init` and `deinit`.
final class UnixSignals: AsyncSequence, @unchecked Sendable {
    typealias Element = Int32
    private let stream: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    init(_ signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let queue = DispatchQueue(label: "ipsyncd.signals")
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        self.stream = stream
        UnixSignals.waitUntilArmed(signals)
    }

    /// libdispatch arms a signal source asynchronously, replacing SIG_IGN with its own handler when it does; a
    /// signal sent before that would be lost. Waiting (at most 1 s) for the handler makes the sequence complete
    /// from the moment `init` returns.
    private static func waitUntilArmed(_ signals: [Int32]) {
        for _ in 0..<5000 {
            let armed = signals.allSatisfy { number in
                var current = sigaction()
                sigaction(number, nil, &current)
                return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
                    != unsafeBitCast(SIG_IGN, to: Int.self)
            }
            if armed { return }
            usleep(200)
        }
    }

    deinit {
        for source in sources { source.cancel() }
    }

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
