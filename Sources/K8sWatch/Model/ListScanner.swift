/// Reads a ServiceList in one pass without building a tree: its metadata, and each item's name and
/// bytes. Only the items whose names are watched are then decoded, so a namespace of thousands of
/// Services costs little more memory than its body. Any doubt (malformed JSON, an escaped name)
/// is a `Failure`, and the caller falls back to the full decoder and its precise error messages.
struct ListScanner {
    struct Failure: Error {}
    struct Item { var name: [UInt8]; var range: Range<Int> }

    var resourceVersion: [UInt8]?
    var continueToken: [UInt8]?
    var items: [Item] = []

    /// Scans `bytes`; `wanted` picks the items (by raw name bytes) worth keeping.
    init(_ bytes: UnsafeBufferPointer<UInt8>, wanted: ([UInt8]) -> Bool) throws(Failure) {
        var cursor = Cursor(bytes: bytes)
        var first = true, seenMetadata = false, seenItems = false
        try cursor.begin(UInt8(ascii: "{"))
        while let key = try cursor.nextKey(first: &first) {
            if cursor.equals(key, Self.metadata) {
                // JSONDecoder rejects a repeated key: so does the scanner, so that both read the same lists.
                guard !seenMetadata else { throw Failure() }
                seenMetadata = true
                var firstInner = true
                try cursor.begin(UInt8(ascii: "{"))
                while let inner = try cursor.nextKey(first: &firstInner) {
                    if cursor.equals(inner, Self.resourceVersion) {
                        resourceVersion = try cursor.plainString()
                    } else if cursor.equals(inner, Self.continue) {
                        continueToken = try cursor.plainString()
                    } else {
                        try cursor.skipValue(depth: 1)
                    }
                }
            } else if cursor.equals(key, Self.items) {
                guard !seenItems else { throw Failure() }
                seenItems = true
                if cursor.null() { continue }
                var firstItem = true
                try cursor.begin(UInt8(ascii: "["))
                while try cursor.nextElement(first: &firstItem) {
                    let start = cursor.index
                    let name = try cursor.itemName()
                    if let name, wanted(name) { items.append(Item(name: name, range: start..<cursor.index)) }
                }
            } else {
                try cursor.skipValue(depth: 1)
            }
        }
        cursor.skipSpace()
        guard cursor.index == bytes.count else { throw Failure() }
    }

    private static let metadata = Array("metadata".utf8), items = Array("items".utf8), name = Array("name".utf8)
    private static let resourceVersion = Array("resourceVersion".utf8), `continue` = Array("continue".utf8)

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func begin(_ byte: UInt8) throws(Failure) {
            skipSpace()
            guard index < bytes.count, bytes[index] == byte else { throw Failure() }
            index += 1
        }

        /// Consumes a `null` value if one comes next.
        mutating func null() -> Bool {
            skipSpace()
            guard bytes.count - index >= 4, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
                  bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l") else { return false }
            index += 4
            return true
        }

        /// The next key of an object (its raw bytes' range), with the ':' consumed; nil at '}'.
        mutating func nextKey(first: inout Bool) throws(Failure) -> Range<Int>? {
            skipSpace()
            guard index < bytes.count else { throw Failure() }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return nil }
            if !first {
                guard bytes[index] == UInt8(ascii: ",") else { throw Failure() }
                index += 1
                skipSpace()
            }
            first = false
            let (key, escaped) = try string()
            if escaped { throw Failure() }   // no Kubernetes key needs an escape
            try begin(UInt8(ascii: ":"))
            return key
        }

        /// Positions at the next element of an array; false at ']'.
        mutating func nextElement(first: inout Bool) throws(Failure) -> Bool {
            skipSpace()
            guard index < bytes.count else { throw Failure() }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return false }
            if !first {
                guard bytes[index] == UInt8(ascii: ",") else { throw Failure() }
                index += 1
            }
            first = false
            skipSpace()
            return true
        }

        /// A string's raw content (between the quotes) and whether it holds an escape.
        mutating func string() throws(Failure) -> (Range<Int>, Bool) {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw Failure() }
            index += 1
            let start = index
            var escaped = false
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return (start..<index - 1, escaped)
                }
                if byte == UInt8(ascii: "\\") { escaped = true; index += 2; continue }
                if byte < 0x20 { throw Failure() }
                index += 1
            }
            throw Failure()
        }

        /// A string value without escapes, as bytes.
        mutating func plainString() throws(Failure) -> [UInt8] {
            let (range, escaped) = try string()
            if escaped { throw Failure() }
            return Array(bytes[range])
        }

        func equals(_ range: Range<Int>, _ word: [UInt8]) -> Bool {
            range.count == word.count && word.withUnsafeBufferPointer { w in
                var i = 0
                while i < w.count, bytes[range.lowerBound + i] == w[i] { i += 1 }
                return i == w.count
            }
        }

        /// Skips one item (an object), returning its `metadata.name` if it has one.
        mutating func itemName() throws(Failure) -> [UInt8]? {
            var name: [UInt8]?
            var first = true
            try begin(UInt8(ascii: "{"))
            while let key = try nextKey(first: &first) {
                guard equals(key, ListScanner.metadata) else { try skipValue(depth: 2); continue }
                var firstInner = true
                try begin(UInt8(ascii: "{"))
                while let inner = try nextKey(first: &firstInner) {
                    if equals(inner, ListScanner.name) { name = try plainString() } else { try skipValue(depth: 3) }
                }
            }
            return name
        }

        mutating func skipValue(depth: Int) throws(Failure) {
            guard depth < 256 else { throw Failure() }
            skipSpace()
            guard index < bytes.count else { throw Failure() }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var first = true
                while try nextKey(first: &first) != nil { try skipValue(depth: depth + 1) }
            case UInt8(ascii: "["):
                index += 1
                var first = true
                while try nextElement(first: &first) { try skipValue(depth: depth + 1) }
            case UInt8(ascii: "\""):
                _ = try string()
            default:
                let start = index
                while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                         UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "E"):
                        index += 1
                    default:
                        guard index > start else { throw Failure() }
                        return
                    }
                }
                guard index > start else { throw Failure() }
            }
        }
    }
}
