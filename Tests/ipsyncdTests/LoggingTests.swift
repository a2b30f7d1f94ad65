import Foundation
import Logging
import Testing
@testable import IpsyncdCore

/// Collects the lines a text or json handler writes.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    var output: LineOutput { LineOutput { [self] line in lock.withLock { bytes += line } } }
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
    var lines: [String] { text.split(separator: "\n").map(String.init) }
}

let fixedClock: @Sendable () -> timespec = { timespec(tv_sec: 1_795_768_654, tv_nsec: 123_456_789) }

@Suite struct LoggingTests {
    @Test func textLineHasTimestampLevelMessageAndKeys() {
        let lines = LineCollector()
        let handler = TextLogHandler(level: .info, underJournalStream: false, output: lines.output, clock: fixedClock)
        let logger = Logger(label: "t") { _ in handler }
        logger.info("watch connected", metadata: ["namespace": "flowmaster", "note": "two words",
                                                  "ipsyncd_route": "/api/"])
        logger.debug("not shown")
        #expect(lines.lines == ["2026-11-27T08:37:34.123Z INFO watch connected namespace=flowmaster note=\"two words\""])
    }

    @Test func textUnderJournalStreamHasPriorityPrefixAndNoTimestamp() {
        let lines = LineCollector()
        let handler = TextLogHandler(level: .info, underJournalStream: true, output: lines.output, clock: fixedClock)
        Logger(label: "t") { _ in handler }.warning("kept /api/")
        #expect(lines.lines == ["<4>WARNING kept /api/"])
    }

    @Test func textQuotesAndEscapesValues() {
        #expect(TextLogHandler.quoted("plain") == "plain")
        #expect(TextLogHandler.quoted("") == "\"\"")
        #expect(TextLogHandler.quoted("a=b") == "\"a=b\"")
        #expect(TextLogHandler.quoted("say \"hi\"\n") == "\"say \\\"hi\\\"\\n\"")
    }

    @Test func jsonIsOneObjectPerLineWithArraysKept() throws {
        let lines = LineCollector()
        let handler = JSONLogHandler(level: .info, output: lines.output, clock: fixedClock)
        Logger(label: "t") { _ in handler }.notice("resync: \"x\"\nsecond line",
                                                  metadata: ["ipsyncd_route": ["/api/", "/ws/"], "n": "1"])
        try #require(lines.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.lines[0].utf8)) as? [String: Any])
        #expect(object["time"] as? String == "2026-11-27T08:37:34.123Z")
        #expect(object["level"] as? String == "notice")
        #expect(object["message"] as? String == "resync: \"x\"\nsecond line")
        #expect(object["ipsyncd_route"] as? [String] == ["/api/", "/ws/"])
        #expect(object["n"] as? String == "1")
    }

    @Test func timestampFormat() {
        #expect(formatTimestamp(timespec(tv_sec: 0, tv_nsec: 5_000_000)) == "1970-01-01T00:00:00.005Z")
    }

    // MARK: one line per resync (docs/design.md §8)

    func logged(_ line: ResyncLine) throws -> [String: Any] {
        let lines = LineCollector()
        let handler = JSONLogHandler(level: .debug, output: lines.output, clock: fixedClock)
        line.log(to: Logger(label: "t") { _ in handler })
        try #require(lines.lines.count == 1)
        return try #require(try JSONSerialization.jsonObject(with: Data(lines.lines[0].utf8)) as? [String: Any])
    }

    @Test func appliedLineNamesRouteAddressesAndDurations() throws {
        let line = ResyncLine(outcome: .applied,
                              changes: [.init(route: "/api/", service: "api-gateway", old: "10.43.0.12:9000", new: "10.43.7.3:9000")],
                              check: .init(ok: true, duration: .milliseconds(41)),
                              reload: .init(ok: true, duration: .milliseconds(12)))
        #expect(line.message == "resync: /api/ api-gateway 10.43.0.12:9000 → 10.43.7.3:9000; check ok 41ms; reload ok 12ms")
        let object = try logged(line)
        #expect(object["level"] as? String == "notice")
        #expect(object["ipsyncd_route"] as? [String] == ["/api/"])
        #expect(object["ipsyncd_service"] as? [String] == ["api-gateway"])
        #expect(object["ipsyncd_old"] as? [String] == ["10.43.0.12:9000"])
        #expect(object["ipsyncd_new"] as? [String] == ["10.43.7.3:9000"])
        #expect(object["ipsyncd_result"] as? String == "applied")
    }

    @Test func severalChangedRoutesGiveRepeatedFields() throws {
        let line = ResyncLine(outcome: .applied,
                              changes: [.init(route: "/api/", service: "api-gateway", old: "10.43.0.12:9000", new: "10.43.7.3:9000"),
                                        .init(route: "/ws/", service: "websocket-gateway", old: "10.43.0.13:80", new: "10.43.7.4:80")],
                              check: .init(ok: true, duration: .milliseconds(40)),
                              reload: .init(ok: true, duration: .milliseconds(1500)))
        #expect(line.message == "resync: /api/ api-gateway 10.43.0.12:9000 → 10.43.7.3:9000, /ws/ websocket-gateway 10.43.0.13:80 → 10.43.7.4:80; check ok 40ms; reload ok 1.5s")
        let object = try logged(line)
        #expect(object["ipsyncd_service"] as? [String] == ["api-gateway", "websocket-gateway"])
        #expect(object["ipsyncd_new"] as? [String] == ["10.43.7.3:9000", "10.43.7.4:80"])
    }

    @Test func inSyncLine() throws {
        let line = ResyncLine(outcome: .inSync)
        #expect(line.message == "resync: in sync, nothing written")
        #expect(try logged(line)["level"] as? String == "info")
    }

    @Test func keptLine() throws {
        let line = ResyncLine(outcome: .kept, kept: [.init(route: "/api/", service: "api-gateway", reason: "api-gateway absent: deleted?")])
        #expect(line.message == "resync: kept /api/ (api-gateway absent: deleted?)")
        let object = try logged(line)
        #expect(object["level"] as? String == "warning")
        #expect(object["ipsyncd_service"] as? [String] == ["api-gateway"])
    }

    @Test func failedLineSaysWhyAndWhen() throws {
        let line = ResyncLine(outcome: .failed,
                              failure: "nginx -t: nginx: [emerg] unknown directive \"bogus\" in /etc/nginx/sites-enabled/other:3",
                              retryIn: .seconds(2))
        #expect(line.message == "resync failed: nginx -t: nginx: [emerg] unknown directive \"bogus\" in /etc/nginx/sites-enabled/other:3; will retry in 2s")
        #expect(try logged(line)["level"] as? String == "error")
    }

    @Test func appliedWithKeptAndErrorsSaysAll() {
        let line = ResyncLine(outcome: .applied,
                              changes: [.init(route: "/", service: "frontend-nextjs", old: "10.43.0.10:3000", new: "10.43.0.11:3000")],
                              kept: [.init(route: "/api/", service: "api-gateway", reason: "api-gateway absent: deleted?")],
                              errors: ["site:12: location /ws/ not found"],
                              check: .init(ok: true, duration: .milliseconds(30)),
                              reload: .init(ok: true, duration: .milliseconds(9)))
        #expect(line.message == "resync: / frontend-nextjs 10.43.0.10:3000 → 10.43.0.11:3000; check ok 30ms; reload ok 9ms; kept /api/ (api-gateway absent: deleted?); error: site:12: location /ws/ not found")
        #expect(line.level == .warning)  // a route needs attention
    }

    @Test func dryRunLineCarriesTheDiff() {
        let line = ResyncLine(outcome: .dryRun,
                              changes: [.init(route: "/api/", service: "api-gateway", old: "a:1", new: "b:1")],
                              diff: "--- a\n+++ b\n")
        #expect(line.message == "resync (dry run): would change /api/ api-gateway a:1 → b:1; nothing written\n--- a\n+++ b\n")
    }

    @Test func durationsReadLikeAPerson() {
        #expect(ResyncLine.format(.milliseconds(41)) == "41ms")
        #expect(ResyncLine.format(.seconds(2)) == "2s")
        #expect(ResyncLine.format(.milliseconds(1730)) == "1.7s")
        #expect(ResyncLine.format(.seconds(60)) == "60s")
    }

    @Test func checkCommandIsNamedAsAPersonWould() {
        #expect(ResyncLine.checkLabel("nginx -t -c {config}") == "nginx -t")
        #expect(ResyncLine.checkLabel("/usr/sbin/nginx -t -q -c {config}") == "nginx -t -q")
        #expect(ResyncLine.checkLabel("/opt/bin/check {config}") == "check")
        #expect(ResyncLine.checkLabel("") == "check")
    }

    @Test func firstProblemLineSkipsTheSyntaxOkLine() {
        let output = """
            nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
            2026/11/27 08:45:45 [emerg] 28473#28473: chown("/var/lib/nginx/body", 33) failed (1: Operation not permitted)
            nginx: configuration file /etc/nginx/nginx.conf test failed
            """
        #expect(ResyncLine.firstProblemLine(output)?.contains("[emerg]") == true)
        #expect(ResyncLine.firstProblemLine("\nonly line\n") == "only line")
        #expect(ResyncLine.firstProblemLine("") == nil)
    }
}
