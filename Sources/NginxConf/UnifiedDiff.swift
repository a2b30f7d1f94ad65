/// The lines of `old` → `new` as GNU `diff -u` prints them: `--- oldLabel` / `+++ newLabel` headers
/// (labels as given, no timestamps), `@@` hunks with 3 lines of context, hunks merged when their
/// contexts touch, and `\ No newline at end of file` after a last line without `\n`.
/// Lines are byte lines ending after `\n` (a CR stays part of its line). Empty when the bytes are equal.
public func unifiedDiff(old: [UInt8], new: [UInt8], oldLabel: String, newLabel: String) -> [UInt8] {
    if old == new { return [] }
    let oldLines = byteLines(old), newLines = byteLines(new)
    let changes = lineChanges(oldLines, newLines)
    var out: [UInt8] = []
    out.reserveCapacity(256)
    out += Array("--- \(oldLabel)\n+++ \(newLabel)\n".utf8)
    var first = 0
    while first < changes.count {
        var last = first
        // GNU diff joins two changes when at most 2 × context unchanged lines lie between them.
        while last + 1 < changes.count, changes[last + 1].old - changes[last].oldEnd <= 2 * diffContext {
            last += 1
        }
        appendHunk(changes[first...last], oldLines, newLines, to: &out)
        first = last + 1
    }
    return out
}

private let diffContext = 3

/// One run of deleted old lines and inserted new lines between two unchanged lines (0-based indices).
private struct LineChange {
    var old: Int, deleted: Int, new: Int, inserted: Int
    var oldEnd: Int { old + deleted }
    var newEnd: Int { new + inserted }
}

private func byteLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    var lines: [ArraySlice<UInt8>] = []
    var start = 0
    for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
        lines.append(bytes[start...index])
        start = index + 1
    }
    if start < bytes.count { lines.append(bytes[start...]) }
    return lines
}

/// The changes from Swift's own `difference(from:)`, over line numbers so that comparing lines is cheap.
private func lineChanges(_ old: [ArraySlice<UInt8>], _ new: [ArraySlice<UInt8>]) -> [LineChange] {
    var ids: [ArraySlice<UInt8>: Int] = [:]
    func intern(_ line: ArraySlice<UInt8>) -> Int {
        if let id = ids[line] { return id }
        ids[line] = ids.count
        return ids.count - 1
    }
    let oldIDs = old.map(intern), newIDs = new.map(intern)
    // The common prefix and suffix never change; GNU diff also sets them aside before searching.
    var prefix = 0
    while prefix < oldIDs.count, prefix < newIDs.count, oldIDs[prefix] == newIDs[prefix] { prefix += 1 }
    var suffix = 0
    while suffix < oldIDs.count - prefix, suffix < newIDs.count - prefix,
          oldIDs[oldIDs.count - 1 - suffix] == newIDs[newIDs.count - 1 - suffix] { suffix += 1 }
    let oldMiddle = Array(oldIDs[prefix..<(oldIDs.count - suffix)])
    let newMiddle = Array(newIDs[prefix..<(newIDs.count - suffix)])

    var removed = [Bool](repeating: false, count: old.count)
    var inserted = [Bool](repeating: false, count: new.count)
    for change in newMiddle.difference(from: oldMiddle) {
        switch change {
        case .remove(let offset, _, _): removed[prefix + offset] = true
        case .insert(let offset, _, _): inserted[prefix + offset] = true
        }
    }
    var changes: [LineChange] = []
    var i = 0, j = 0
    while i < old.count || j < new.count {
        if (i < old.count && removed[i]) || (j < new.count && inserted[j]) {
            let start = (i, j)
            while i < old.count && removed[i] { i += 1 }
            while j < new.count && inserted[j] { j += 1 }
            changes.append(LineChange(old: start.0, deleted: i - start.0, new: start.1, inserted: j - start.1))
        } else {
            i += 1
            j += 1
        }
    }
    return changes
}

private func appendHunk(_ changes: ArraySlice<LineChange>, _ old: [ArraySlice<UInt8>], _ new: [ArraySlice<UInt8>],
                        to out: inout [UInt8]) {
    let first = changes.first!, last = changes.last!
    let oldStart = max(0, first.old - diffContext)
    let newStart = oldStart + (first.new - first.old)   // lines before the first change are unchanged
    let oldEnd = min(old.count, last.oldEnd + diffContext)
    let newEnd = min(new.count, last.newEnd + diffContext)
    out += Array("@@ -\(hunkRange(oldStart, oldEnd)) +\(hunkRange(newStart, newEnd)) @@\n".utf8)

    var i = oldStart
    for change in changes {
        while i < change.old { appendLine(" ", old[i], to: &out); i += 1 }
        for k in change.old..<change.oldEnd { appendLine("-", old[k], to: &out) }
        for k in change.new..<change.newEnd { appendLine("+", new[k], to: &out) }
        i = change.oldEnd
    }
    while i < oldEnd { appendLine(" ", old[i], to: &out); i += 1 }
}

/// GNU's convention: `start,count`, just `start` for one line, and `lineBefore,0` for none.
private func hunkRange(_ start: Int, _ end: Int) -> String {
    switch end - start {
    case 0: "\(start),0"
    case 1: "\(start + 1)"
    default: "\(start + 1),\(end - start)"
    }
}

private func appendLine(_ marker: Unicode.Scalar, _ line: ArraySlice<UInt8>, to out: inout [UInt8]) {
    out.append(UInt8(ascii: marker))
    out += line
    if line.last != UInt8(ascii: "\n") { out += Array("\n\\ No newline at end of file\n".utf8) }
}
