import Glibc
import Posix

/// Keeps the idle daemon small. Most of what the static binary keeps resident is file pages, not heap: its
/// own code (argument parsing, config, kubeconfig and YAML loading, relocations: about 14 of 17 MiB) and the
/// shared libraries' (libcrypto alone 4 MiB), touched once at start-up or by a resync, or mapped only by
/// the kernel's fault-around. The daemon releases them once started and after each resync, before it goes
/// idle. See "Where the memory goes" in docs/benchmarks.md.
package enum ResidentMemory {
    /// One file-backed mapping of `/proc/self/smaps`.
    struct Mapping: Equatable {
        var start: UInt
        var end: UInt
        var writable: Bool
        /// Private copies in it (relocated or written pages): these are not the file's bytes.
        var anonymousKiB: Int
        var path: String

        /// Unmapping is safe only where every page is the file's own: read-only and no private copy.
        var holdsOnlyFilePages: Bool { !writable && anonymousKiB == 0 }
    }

    /// The file-backed mappings in `/proc/PID/smaps` text (anonymous memory, the stack, vdso and the like skipped).
    static func fileMappings(_ smaps: String) -> [Mapping] {
        var mappings: [Mapping] = []
        var current: Mapping?
        for line in smaps.split(separator: "\n") {
            if line.hasPrefix("Anonymous:") {
                let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first
                current?.anonymousKiB = kib.flatMap { Int($0) } ?? Int.max
                continue
            }
            guard let header = header(line) else { continue }
            if let current { mappings.append(current) }
            current = header
        }
        if let current { mappings.append(current) }
        return mappings.filter { !$0.path.isEmpty }
    }

    /// A mapping's first line, as a `Mapping` with an empty path when it is not a file's; nil for the other lines.
    private static func header(_ line: Substring) -> Mapping? {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5, fields[1].count == 4 else { return nil }
        let range = fields[0].split(separator: "-")
        guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
              end > start else { return nil }
        // maxSplits counts the skipped runs of spaces too, so the path may keep its leading padding.
        let path = fields.count == 6 && fields[4] != "0" ? fields[5].drop { $0 == " " } : ""
        return Mapping(start: start, end: end, writable: fields[1].contains("w"), anonymousKiB: Int.max,
                       path: path.hasPrefix("/") ? String(path) : "")
    }

    /// Unmaps the file pages this process need not keep mapped. Best effort (an older kernel without
    /// `MADV_PAGEOUT` leaves memory as it was).
    /// - `startUp`: also, for every file mapping, `MADV_RANDOM` (a page touched later is mapped alone, not with
    ///   its neighbours), and `MADV_PAGEOUT` on the mappings that also hold private copies (relocated or
    ///   written data), whose file pages cannot be unmapped otherwise.
    /// - always: `MADV_DONTNEED` on the mappings that hold only the file's pages, which unmaps them, shared
    ///   ones too; they stay in the page cache, so touching them again is a minor fault, not a read from disk
    ///   (a page-out of the binary's code made the first change after start 30 ms slower).
    package static func release(startUp: Bool) {
        guard let bytes = try? Posix.read("/proc/self/smaps") else { return }
        let smaps = String(decoding: bytes, as: UTF8.self)
        for mapping in fileMappings(smaps) {
            let start = UnsafeMutableRawPointer(bitPattern: mapping.start), length = Int(mapping.end - mapping.start)
            if startUp { _ = madvise(start, length, MADV_RANDOM) }
            if mapping.holdsOnlyFilePages {
                _ = madvise(start, length, MADV_DONTNEED)
            } else if startUp {
                _ = madvise(start, length, MADV_PAGEOUT)
            }
        }
    }
}
