import NginxApply
import Testing

/// The `resync.trace` line's text: instants in milliseconds after the first mark, in time order.
@Suite("PhaseTrace")
struct PhaseTraceTests {
    @Test func textIsMillisecondsAfterTheFirstMarkInTimeOrder() {
        let trace = PhaseTrace()
        #expect(trace.text.isEmpty)
        trace.mark(.settled, at: 1_050_250_000)
        trace.mark(.event, at: 1_000_000_000)
        trace.mark(.checkEnd, at: 1_061_004_000)
        #expect(trace.text == "t0=1000000000 event=+0.0 settled=+50.25 check_end=+61.0")
    }
}
