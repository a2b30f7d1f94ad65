import Foundation
import Testing
import TestSupport
@testable import K8sWatch

/// Inputs kept from `scripts/fuzz.sh watchevent` (Tests/Fixtures/fuzz/watchevent), replayed through
/// the fuzz target's own calls: every decoder entry point throws or answers, never traps.
@Suite struct WatchEventFuzzRegressionTests {
    static let watched: Set<String> = ["api-gateway", "web", "ws"]

    static func inputs() -> [String] {
        let dir = fixturePath("fuzz/watchevent")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test func corpusIsKept() {
        #expect(!Self.inputs().isEmpty, "Tests/Fixtures/fuzz/watchevent holds the fuzzer's kept inputs")
    }

    /// Found by comparing the scanner with the full decoder over the fuzz corpus: the fast path used to
    /// accept bodies the full decoder rejects — invalid UTF-8 (repaired to U+FFFD) and a duplicated
    /// `metadata` key (the scanner read the last). Both now fall back to the full decoder.
    @Test(arguments: ["scanner-accepts-invalid-utf8.json", "scanner-accepts-duplicate-metadata.json"])
    func scannerRejectsWhatTheDecoderRejects(_ name: String) throws {
        let bytes = try readBytes(fixturePath("fuzz/watchevent/\(name)"))
        let names: Set<String> = ["billing-db", "api-gateway"]
        let decoder = ServiceDecoder(names: names)
        #expect(throws: K8sError.self) { try decoder.decodedList(bytes, source: "test") }
        #expect(decoder.scannedList(bytes, names: names) == nil)
    }

    @Test(arguments: inputs())
    func replays(_ name: String) throws {
        let bytes = try readBytes(fixturePath("fuzz/watchevent/\(name)"))
        let filtered = ServiceDecoder(names: Self.watched), everything = ServiceDecoder(names: nil)
        _ = try? filtered.event(bytes, source: name)
        _ = try? everything.event(bytes, source: name)
        let fast = try? filtered.list(bytes, source: name)
        let full = try? filtered.decodedList(bytes, source: name)
        // The scanner's fast path may decline, but what it accepts the full decoder reads alike.
        if let scanned = filtered.scannedList(bytes, names: Self.watched), let full {
            #expect(scanned.services == full.services)
            #expect(scanned.resourceVersion == full.resourceVersion)
        }
        _ = fast
        _ = try? everything.list(bytes, source: name)
        _ = ServiceDecoder.status(bytes)
    }
}
