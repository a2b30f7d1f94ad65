/// Splits a byte stream into '\n'-terminated lines (without the '\n'), across chunk boundaries.
struct LineSplitter {
    /// A line longer than this is an error, not unbounded memory.
    var limit = 16 << 20
    private var partial: [UInt8] = []

    /// Feeds one chunk; returns false when a line exceeds the limit.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, line emit: ([UInt8]) -> Void) -> Bool {
        var start = chunk.startIndex
        while let newline = chunk[start...].firstIndex(of: 0x0A) {
            if partial.isEmpty {
                emit(Array(chunk[start..<newline]))
            } else {
                partial.append(contentsOf: chunk[start..<newline])
                emit(partial)
                partial.removeAll(keepingCapacity: true)
            }
            start = newline + 1
        }
        partial.append(contentsOf: chunk[start...])
        return partial.count <= limit
    }

    /// What is left after the last '\n' at the end of the body, if anything.
    var remainder: [UInt8]? { partial.isEmpty ? nil : partial }
}
