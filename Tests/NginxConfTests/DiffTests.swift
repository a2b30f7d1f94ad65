import Foundation
import Testing
import NginxConf
import TestSupport

@Suite struct DiffTests {
    @Test func equalBytesGiveNoDiff() {
        #expect(unifiedDiff(old: [], new: [], oldLabel: "a", newLabel: "b").isEmpty)
        let text = Array("server {\n    listen 80;\n}".utf8)
        #expect(unifiedDiff(old: text, new: text, oldLabel: "a", newLabel: "b").isEmpty)
    }

    @Test func oneChangedLineWithLabelsAsGiven() {
        let old = lines(1...10), new = old.replacingLine(5, with: "five\n")
        let diff = unifiedDiff(old: old, new: new, oldLabel: "sites-enabled/flowmaster", newLabel: "sites-enabled/flowmaster (new)")
        #expect(String(decoding: diff, as: UTF8.self) == """
            --- sites-enabled/flowmaster
            +++ sites-enabled/flowmaster (new)
            @@ -2,7 +2,7 @@
             line 2
             line 3
             line 4
            -line 5
            +five
             line 6
             line 7
             line 8

            """)
    }

    @Test func missingFinalNewlineIsMarked() {
        let diff = unifiedDiff(old: Array("a\nb".utf8), new: Array("a\nb\n".utf8), oldLabel: "a", newLabel: "b")
        #expect(String(decoding: diff, as: UTF8.self) == "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n")
    }

    @Test func emptyFilesUseZeroLengthRanges() {
        let text = Array("x\ny\n".utf8)
        #expect(String(decoding: unifiedDiff(old: [], new: text, oldLabel: "a", newLabel: "b"), as: UTF8.self)
            == "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n")
        #expect(String(decoding: unifiedDiff(old: text, new: [], oldLabel: "a", newLabel: "b"), as: UTF8.self)
            == "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n")
    }

    @Test func hunksMergeWhenContextsTouch() {
        let old = lines(1...30)
        // Six unchanged lines between the changes: one hunk. Seven: two.
        let merged = unifiedDiff(old: old, new: old.replacingLine(5, with: "A\n").replacingLine(12, with: "B\n"),
                                 oldLabel: "a", newLabel: "b")
        let split = unifiedDiff(old: old, new: old.replacingLine(5, with: "A\n").replacingLine(13, with: "B\n"),
                                oldLabel: "a", newLabel: "b")
        #expect(hunkHeaders(merged) == ["@@ -2,14 +2,14 @@"])
        #expect(hunkHeaders(split) == ["@@ -2,7 +2,7 @@", "@@ -10,7 +10,7 @@"])
    }

    /// Cases whose minimal diff is unique: the output must equal GNU diff's, byte for byte.
    @Test(arguments: [
        DiffCase("middle line changed", lines(1...10), lines(1...10).replacingLine(5, with: "changed\n")),
        DiffCase("first line changed", lines(1...10), lines(1...10).replacingLine(1, with: "changed\n")),
        DiffCase("last line changed", lines(1...10), lines(1...10).replacingLine(10, with: "changed\n")),
        DiffCase("line appended", lines(1...5), lines(1...6)),
        DiffCase("line deleted", lines(1...8), lines(1...8).removingLine(4)),
        DiffCase("old empty", [], lines(1...3)),
        DiffCase("new empty", lines(1...3), []),
        DiffCase("one line each", Array("a\n".utf8), Array("b\n".utf8)),
        DiffCase("final newline removed", lines(1...6), Array(lines(1...6).dropLast())),
        DiffCase("final newline added", Array(lines(1...6).dropLast()), lines(1...6)),
        DiffCase("both lack final newline", Array(lines(1...6).dropLast()), Array(lines(1...6).replacingLine(2, with: "two\n").dropLast())),
        DiffCase("last context line lacks final newline", Array(lines(1...6).dropLast()), Array(lines(1...6).replacingLine(5, with: "five\n").dropLast())),
        DiffCase("crlf line", Array("a\r\nb\r\nc\r\n".utf8), Array("a\r\nB\r\nc\r\n".utf8)),
        DiffCase("invalid utf-8", Array("ok\n".utf8) + [0xFF, 0xFE, 0x0A] + Array("end\n".utf8), Array("ok\n".utf8) + [0xC3, 0x28, 0x0A] + Array("end\n".utf8)),
        DiffCase("gap of six", lines(1...30), lines(1...30).replacingLine(5, with: "A\n").replacingLine(12, with: "B\n")),
        DiffCase("gap of seven", lines(1...30), lines(1...30).replacingLine(5, with: "A\n").replacingLine(13, with: "B\n")),
    ])
    func matchesGNUDiff(_ diffCase: DiffCase) throws {
        let dir = try TempDir("diff-gnu")
        try expectGNUDiffAgrees(old: diffCase.old, new: diffCase.new, dir: dir, diffCase.name)
        try expectPatchRoundTrip(old: diffCase.old, new: diffCase.new, dir: dir, diffCase.name)
    }

    /// Random edits over unique lines (inserted lines are new): the minimal diff is unique, so GNU
    /// diff's output is the expected output.
    @Test func generatedUniqueLineEditsMatchGNUDiff() throws {
        var random = SplitMix64(seed: 0x5EED_D1FF)
        let dir = try TempDir("diff-unique")
        var fresh = 0
        for round in 0..<60 {
            let old = (0..<Int.random(in: 0...40, using: &random)).map { Array("line \($0)\n".utf8) }
            var new = old
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0...new.count, using: &random)
                let cut = Int.random(in: 0...min(3, new.count - at), using: &random)
                let added = (0..<Int.random(in: 0...3, using: &random)).map { _ in
                    fresh += 1
                    return Array("new \(fresh)\n".utf8)
                }
                new.replaceSubrange(at..<(at + cut), with: added)
            }
            let oldBytes = joinedLines(old, dropFinalNewline: Bool.random(using: &random))
            let newBytes = joinedLines(new, dropFinalNewline: Bool.random(using: &random))
            try expectGNUDiffAgrees(old: oldBytes, new: newBytes, dir: dir, "round \(round)")
            try expectPatchRoundTrip(old: oldBytes, new: newBytes, dir: dir, "round \(round)")
        }
    }

    /// Random edits over repeated lines (where GNU diff may pick other, equally small hunks): GNU patch
    /// must turn the old bytes into the new ones.
    @Test func generatedEditsRoundTripThroughPatch() throws {
        let pool: [[UInt8]] = [
            "server {\n", "}\n", "\n", "    listen 80;\n", "    proxy_pass http://10.43.0.12:9000;\n",
            "location /api/ {\r\n", "\r\n", "# caf\u{E9}\n", "--- a\n", "+++ b\n", "@@ -1 +1 @@\n",
            "\\ No newline at end of file\n", " \n", "\t}\n",
        ].map { Array($0.utf8) } + [[0xFF, 0xFE, 0x41, 0x0A], [0x23, 0xE9, 0x0D, 0x0A]]
        var random = SplitMix64(seed: 20_261_127)
        let dir = try TempDir("diff-patch")
        for round in 0..<200 {
            let old = (0..<Int.random(in: 0...50, using: &random)).map { _ in pool.randomElement(using: &random)! }
            var new = old
            for _ in 0..<Int.random(in: 0...5, using: &random) {
                let at = Int.random(in: 0...new.count, using: &random)
                let cut = Int.random(in: 0...min(4, new.count - at), using: &random)
                let added = (0..<Int.random(in: 0...4, using: &random)).map { _ in pool.randomElement(using: &random)! }
                new.replaceSubrange(at..<(at + cut), with: added)
            }
            let oldBytes = joinedLines(old, dropFinalNewline: Int.random(in: 0..<4, using: &random) == 0)
            let newBytes = joinedLines(new, dropFinalNewline: Int.random(in: 0..<4, using: &random) == 0)
            try expectPatchRoundTrip(old: oldBytes, new: newBytes, dir: dir, "round \(round)")
        }
    }
}

// MARK: - Helpers

struct DiffCase: Sendable, CustomTestStringConvertible {
    var name: String, old: [UInt8], new: [UInt8]
    init(_ name: String, _ old: [UInt8], _ new: [UInt8]) { (self.name, self.old, self.new) = (name, old, new) }
    var testDescription: String { name }
}

private func lines(_ numbers: ClosedRange<Int>) -> [UInt8] {
    Array(numbers.map { "line \($0)\n" }.joined().utf8)
}

private func joinedLines(_ lines: [[UInt8]], dropFinalNewline: Bool) -> [UInt8] {
    var bytes = lines.flatMap { $0 }
    if dropFinalNewline, bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
    return bytes
}

private extension Array where Element == UInt8 {
    /// Splits after each `\n`, the last line possibly without one.
    var byteLines: [[UInt8]] {
        var result: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in self {
            current.append(byte)
            if byte == UInt8(ascii: "\n") { result.append(current); current = [] }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
    func replacingLine(_ number: Int, with text: String) -> [UInt8] {
        var all = byteLines
        all[number - 1] = Array(text.utf8)
        return all.flatMap { $0 }
    }
    func removingLine(_ number: Int) -> [UInt8] {
        var all = byteLines
        all.remove(at: number - 1)
        return all.flatMap { $0 }
    }
}

private func hunkHeaders(_ diff: [UInt8]) -> [String] {
    String(decoding: diff, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("@@") }.map(String.init)
}

private func expectGNUDiffAgrees(old: [UInt8], new: [UInt8], dir: TempDir, _ name: String) throws {
    let diff = try #require(findExecutable("diff"), "GNU diff is needed")
    let oldPath = try dir.write("old", old), newPath = try dir.write("new", new)
    let gnu = try runProcess(diff, ["-u", "--text", "--label", "a", "--label", "b", oldPath, newPath])
    let ours = unifiedDiff(old: old, new: new, oldLabel: "a", newLabel: "b")
    let same = ours == gnu.stdoutBytes   // compared as bytes, shown as text
    #expect(same, "\(name): ours\n\(String(decoding: ours, as: UTF8.self))\nGNU diff\n\(gnu.stdout)")
}

private func expectPatchRoundTrip(old: [UInt8], new: [UInt8], dir: TempDir, _ name: String) throws {
    let diff = unifiedDiff(old: old, new: new, oldLabel: "a", newLabel: "b")
    if old == new {
        #expect(diff.isEmpty, "\(name)")
        return
    }
    let patch = try #require(findExecutable("patch"), "GNU patch is needed")
    let oldPath = try dir.write("old", old), diffPath = try dir.write("change.diff", diff)
    let outPath = dir.file("patched")
    try? FileManager.default.removeItem(atPath: outPath)
    // --binary: keep CRs; -E is not given, so an emptied file is still written.
    let result = try runProcess(patch, ["-s", "--binary", "-o", outPath, "-i", diffPath, oldPath])
    #expect(result.status == 0, "\(name): patch failed: \(result.stdout)\(result.stderr)\n\(String(decoding: diff, as: UTF8.self))")
    let patched = (try? readBytes(outPath)) ?? []
    let same = patched == new
    #expect(same, "\(name): patched bytes differ\n\(String(decoding: diff, as: UTF8.self))")
}
