/// The watcher's clocks and limits. The defaults are production's; tests shrink them and record
/// the delays asked for instead of waiting them out.
package struct WatchTiming: Sendable {
    var backoff = Backoff()
    /// `timeoutSeconds` of each watch is drawn from here (client-go: [5 min, 10 min)).
    package var watchTimeoutSeconds: Range<Int> = 300..<600
    /// A watch that sends nothing for its timeout plus this grace has stalled. Bookmarks may be
    /// disabled by a server, so the idle limit must outlast the whole watch.
    package var idleGrace: Duration = .seconds(30)
    /// A watch that ends cleanly sooner than this with no event is a failure (client-go's "very short watch").
    package var shortWatch: Duration = .seconds(1)
    /// The read deadline of a watch once the server has been seen to send bookmarks.
    package var bookmarkSilence: Duration = APITimeouts().bookmarkSilence
    /// A trouble that lasts is logged again (with the count of attempts) at most this often.
    package var repeatWarning: Duration = .seconds(300)
    package var random: @Sendable () -> Double = { Double.random(in: 0..<1) }
    package var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }

    package init() {}
}
