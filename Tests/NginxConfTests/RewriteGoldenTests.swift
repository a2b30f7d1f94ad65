import Foundation
import Testing
import TestSupport
import NginxConf

/// Each fixture NAME.conf rewritten with NAME.edits gives NAME.expected byte for byte, and the
/// changes and errors listed in NAME.changes. `RECORD_GOLDENS=1` re-records both.
@Suite struct RewriteGoldenTests {
    static let record = ProcessInfo.processInfo.environment["RECORD_GOLDENS"] == "1"

    static func rewritten(_ name: String) throws -> (input: [UInt8], result: RewriteResult) {
        let input = try fixtureBytes("nginx/\(name).conf")
        let edits = parseEdits(try String(contentsOfFile: fixturePath("nginx/\(name).edits"), encoding: .utf8))
        return (input, try ConfigFile.parse(input, path: "\(name).conf").rewrite(edits))
    }

    static func summary(_ result: RewriteResult) -> String {
        result.changes.map { "change \($0.route) \($0.old) -> \($0.new) line \($0.line)\n" }.joined()
            + result.errors.map { "error \($0.code.rawValue) \($0.route ?? "-") line \($0.line)\n" }.joined()
    }

    @Test(arguments: siteFixtures())
    func matchesGolden(_ name: String) throws {
        let (_, result) = try Self.rewritten(name)
        let expectedPath = fixturePath("nginx/\(name).expected")
        let changesPath = fixturePath("nginx/\(name).changes")
        if Self.record {
            try Data(result.bytes).write(to: URL(fileURLWithPath: expectedPath))
            try Data(Self.summary(result).utf8).write(to: URL(fileURLWithPath: changesPath))
        }
        #expect(result.bytes == (try readBytes(expectedPath)))
        #expect(Self.summary(result) == (try String(contentsOfFile: changesPath, encoding: .utf8)))
    }

    @Test(arguments: siteFixtures())
    func outputReparsesRoundTripsAndIsStable(_ name: String) throws {
        let (input, result) = try Self.rewritten(name)
        let again = try ConfigFile.parse(result.bytes, path: name)
        #expect(again.printed() == result.bytes)
        let edits = parseEdits(try String(contentsOfFile: fixturePath("nginx/\(name).edits"), encoding: .utf8))
        #expect(again.rewrite(edits).changes.isEmpty)
        // Only address bytes differ: the unchanged prefix and suffix around every change are intact.
        #expect(result.changes.isEmpty == (result.bytes == input))
    }

    @Test func everyFixtureHasGoldens() {
        for name in siteFixtures() {
            #expect(FileManager.default.fileExists(atPath: fixturePath("nginx/\(name).edits")), "\(name).edits")
            #expect(FileManager.default.fileExists(atPath: fixturePath("nginx/\(name).expected")), "\(name).expected")
        }
        #expect(siteFixtures().count >= 15)
    }
}
