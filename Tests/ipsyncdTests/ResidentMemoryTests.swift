import Glibc
import Testing
import TestSupport
@testable import IpsyncdCore
import Posix

@Suite struct ResidentMemoryTests {
    @Test func fileMappingsKeepOnlyFileBackedOnes() {
        let smaps = """
            55d0c0000000-55d0c1000000 r-xp 00000000 fd:00 1234     /usr/sbin/ipsyncd
            Size:              16384 kB
            Anonymous:             0 kB
            55d0c1000000-55d0c1100000 r--p 01000000 fd:00 1234     /usr/sbin/ipsyncd
            Anonymous:           612 kB
            55d0c2000000-55d0c2100000 rw-p 01100000 fd:00 1234     /usr/sbin/ipsyncd
            Anonymous:             4 kB
            VmFlags: rd wr mr mw me ac
            55d0c3000000-55d0c3021000 rw-p 00000000 00:00 0        [heap]
            Anonymous:           132 kB
            7f0000000000-7f0000100000 rw-p 00000000 00:00 0
            Anonymous:             8 kB
            7f0000200000-7f0000300000 r--p 00000000 fd:00 99       /usr/lib/x86_64-linux-gnu/lib with space.so
            Anonymous:             0 kB
            7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0        [vdso]
            Anonymous:             0 kB
            """
        let mappings = ResidentMemory.fileMappings(smaps)
        #expect(mappings == [
            .init(start: 0x55d0c0000000, end: 0x55d0c1000000, writable: false, anonymousKiB: 0, path: "/usr/sbin/ipsyncd"),
            .init(start: 0x55d0c1000000, end: 0x55d0c1100000, writable: false, anonymousKiB: 612, path: "/usr/sbin/ipsyncd"),
            .init(start: 0x55d0c2000000, end: 0x55d0c2100000, writable: true, anonymousKiB: 4, path: "/usr/sbin/ipsyncd"),
            .init(start: 0x7f0000200000, end: 0x7f0000300000, writable: false, anonymousKiB: 0,
                  path: "/usr/lib/x86_64-linux-gnu/lib with space.so"),
        ])
        // Relocated read-only data (private copies) and writable data must never be unmapped.
        #expect(mappings.map(\.holdsOnlyFilePages) == [true, false, false, true])
    }

    /// A mapping whose Anonymous line is missing is never taken for file pages alone.
    @Test func missingAnonymousCountIsNotSafe() {
        let mappings = ResidentMemory.fileMappings("7f0000200000-7f0000300000 r--p 00000000 fd:00 99 /lib/x.so\n")
        #expect(mappings.count == 1)
        #expect(mappings.first?.holdsOnlyFilePages == false)
    }

    /// A real file mapped and read: its pages are resident in this process, and no longer after the release;
    /// the rest of this process (other tests run beside it) goes on with its code and libraries released too.
    @Test func releaseDropsResidentFilePages() throws {
        let dir = try TempDir("ipsyncd-resident")
        let size = 1 << 20
        let path = try dir.write("data", [UInt8](repeating: 7, count: size))
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        _ = fsync(fd)   // dirty page-cache pages are not reclaimed by MADV_PAGEOUT
        let base = try #require(mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0))
        try #require(base != MAP_FAILED)
        defer { munmap(base, size) }
        var sum = 0
        for offset in stride(from: 0, to: size, by: 4096) { sum += Int(base.load(fromByteOffset: offset, as: UInt8.self)) }
        #expect(sum == 7 * size / 4096)
        let before = try residentKiB(at: UInt(bitPattern: base))
        #expect(before > 0)

        ResidentMemory.release(startUp: true)

        let after = try residentKiB(at: UInt(bitPattern: base))
        #expect(after < before, "Rss of the mapping: \(before) KiB before, \(after) KiB after")
        #expect(base.load(fromByteOffset: size - 1, as: UInt8.self) == 7)   // still readable: faults back in
    }

    private func residentKiB(at address: UInt) throws -> Int {
        let smaps = String(decoding: try Posix.read("/proc/self/smaps"), as: UTF8.self)
        var inside = false
        for line in smaps.split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let start = UInt(line[..<dash], radix: 16) {
                inside = start == address
            } else if inside, line.hasPrefix("Rss:") {
                return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
            }
        }
        throw ResidentMemoryTestError.mappingNotFound
    }
}

enum ResidentMemoryTestError: Error { case mappingNotFound }
