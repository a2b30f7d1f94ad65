import Foundation
import Glibc
import Posix
import Testing
import TestSupport

@Suite struct PosixReadTests {
    @Test func readsAWholeFileLargerThanOneChunk() throws {
        let dir = try TempDir("posix")
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let path = try dir.write("big", bytes)
        #expect(try Posix.read(path) == bytes)
        #expect(try Posix.read(try dir.write("empty", [UInt8]())) == [])
    }

    @Test func aFileOverTheLimitFailsWithFileTooLarge() throws {
        let dir = try TempDir("posix")
        let path = try dir.write("f", [UInt8](repeating: 1, count: 70_000))
        #expect(throws: PosixError.self) { try Posix.read(path, limit: 65_536) }
        do { _ = try Posix.read(path, limit: 1000) } catch { #expect(error.errno == EFBIG && error.pathExists) }
        #expect(try Posix.read(path, limit: 70_000).count == 70_000)
    }

    @Test func aMissingFileSaysSoAndNamesThePath() throws {
        let dir = try TempDir("posix")
        do {
            _ = try Posix.read(dir.file("missing"))
            Issue.record("read of a missing file succeeded")
        } catch {
            #expect(!error.pathExists)
            #expect(error.description == "open \(dir.file("missing")): No such file or directory")
        }
        do { _ = try Posix.read(dir.path) } catch { #expect(error.errno == EISDIR && error.pathExists) }
        #expect(!Posix.exists(dir.file("missing")) && Posix.exists(dir.path))
    }
}

@Suite struct PosixWriteTests {
    @Test func writeAllPutsEveryByteThroughAPipeThatTakesThemInPieces() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let (readEnd, writeEnd) = (ends[0], ends[1])
        let bytes = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }  // far more than a pipe holds
        let reader = Task.detached { () -> [UInt8] in
            var got: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(readEnd, $0.baseAddress, $0.count) }
                if count <= 0 { return got }
                got.append(contentsOf: chunk[0..<count])
            }
        }
        #expect(Posix.writeAll(writeEnd, bytes) == 0)
        close(writeEnd)
        #expect(await reader.value == bytes)
        close(readEnd)
    }

    @Test func writeAllReportsTheFailureInsteadOfLooping() {
        #expect(Posix.writeAll(-1, [1, 2, 3]) == EBADF)
        #expect(Posix.writeAll(-1, []) == 0)
    }
}

@Suite struct PosixReplaceTests {
    private func entries(_ dir: TempDir) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    @Test func replaceLeavesTheNewBytesWithExactlyTheModeAndNoTemporaryFile() throws {
        let dir = try TempDir("posix")
        let path = try dir.write("site.conf", "old\n")
        let previous = umask(0o077)
        defer { umask(previous) }
        try Posix.replace(path, with: Array("new\n".utf8), mode: 0o644)
        #expect(try Posix.read(path) == Array("new\n".utf8))
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o7777 == 0o644)
        #expect(try entries(dir) == ["site.conf"])
        try Posix.replace(dir.file("fresh"), with: [1], mode: 0o600)
        #expect(try entries(dir) == ["fresh", "site.conf"])
    }

    /// Without the fsyncs (the metrics file, a checked swap's last good copy) it is still a whole-file rename.
    @Test func aReplaceThatNeedNotBeDurableIsStillAtomicAndLeavesNoTemporaryFile() throws {
        let dir = try TempDir("posix")
        let path = try dir.write("metrics.prom", "old\n")
        try Posix.replace(path, with: Array("new\n".utf8), mode: 0o644, durable: false)
        #expect(try Posix.read(path) == Array("new\n".utf8))
        #expect(try entries(dir) == ["metrics.prom"])
    }

    @Test func replaceThroughASymlinkWritesItsTargetAndKeepsTheLink() throws {
        let dir = try TempDir("posix")
        let target = try dir.write("real.conf", "old\n")
        #expect(symlink(target, dir.file("link.conf")) == 0)
        try Posix.replace(dir.file("link.conf"), with: Array("new\n".utf8), mode: 0o644)
        var info = stat()
        #expect(lstat(dir.file("link.conf"), &info) == 0 && info.st_mode & S_IFMT == S_IFLNK)
        #expect(try Posix.read(target) == Array("new\n".utf8))
    }

    @Test func aFailedReplaceLeavesTheTargetAndNoTemporaryFile() throws {
        let dir = try TempDir("posix")
        #expect(throws: PosixError.self) { try Posix.replace(dir.file("no/such/dir/f"), with: [1], mode: 0o644) }
        let path = try dir.write("f", "old\n")
        #expect(throws: PosixError.self) { try Posix.create(path, [1], mode: 0o644) }  // create never overwrites
        #expect(try Posix.read(path) == Array("old\n".utf8))
        #expect(try entries(dir) == ["f"])
    }

    @Test func temporaryNamesAreDotFilesBesideTheTargetWithTheMarker() {
        let name = Posix.temporaryPath(beside: "/etc/nginx/sites/app.conf")
        #expect(name.hasPrefix("/etc/nginx/sites/.app.conf" + Posix.temporaryMarker))
        #expect(name != Posix.temporaryPath(beside: "/etc/nginx/sites/app.conf"))
        #expect(Posix.directory(of: "/a") == "/" && Posix.directory(of: "a") == "." && Posix.baseName(of: "/a/b") == "b")
    }
}

@Suite struct PosixClockTests {
    @Test func realtimeNowIsTheWallClock() {
        let before = time(nil)
        let now = Posix.realtimeNow()
        #expect(now.tv_sec >= before && now.tv_sec <= time(nil))
        #expect(now.tv_nsec >= 0 && now.tv_nsec < 1_000_000_000)
    }
}

@Suite struct PosixMonotonicTests {
    @Test func monotonicNanosecondsIsClockMonotonicAndNeverGoesBack() {
        var reference = timespec()
        clock_gettime(CLOCK_MONOTONIC, &reference)
        let first = Posix.monotonicNanoseconds(), second = Posix.monotonicNanoseconds()
        #expect(first >= UInt64(reference.tv_sec) * 1_000_000_000 + UInt64(reference.tv_nsec))
        #expect(second >= first)
    }
}

@Suite struct ProcessExitDescriptorTests {
    /// The command runner waits on this instead of sleeping: it must poll readable once the child has exited,
    /// and not before.
    @Test func pollsReadableOnceTheChildHasExitedAndNotBefore() throws {
        var fds: [Int32] = [-1, -1]
        try #require(pipe(&fds) == 0)
        defer { close(fds[1]) }
        // `head -c 1` exits once it has read a byte from its stdin: the test decides when.
        guard case .success(let pid) = ProcessGroup.spawn("/usr/bin/head", ["-c", "1"], environment: nil, stdin: fds[0],
                                                         stdout: 2, stderr: 2) else {
            Issue.record("cannot start head")
            return
        }
        close(fds[0])
        let exited = try #require(ProcessGroup.exitDescriptor(of: pid))
        defer { close(exited) }
        var poller = pollfd(fd: exited, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 0) == 0)   // still running
        var byte: UInt8 = 10
        #expect(write(fds[1], &byte, 1) == 1)
        #expect(poll(&poller, 1, 60_000) == 1)   // woken by the exit, not by the timeout
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(ProcessGroup.exitCode(status) == 0)
    }
}

@Suite struct ProcessGroupSpawnTests {
    /// The daemon's threads block HUP, INT and TERM, and a signal ignored at exec stays ignored: a command
    /// it starts must inherit neither, or a timeout's SIGTERM could not stop it.
    @Test func aChildStartsWithDefaultSignalsAndAnEmptyMaskWhateverItsParentHas() async throws {
        let status = try await blocking { () throws -> String in
            // The mask is per thread: this thread, its own, is the one that spawns.
            var blocked = sigset_t(), previous = sigset_t()
            sigemptyset(&blocked)
            for number in [SIGHUP, SIGINT, SIGTERM] { sigaddset(&blocked, number) }
            pthread_sigmask(SIG_BLOCK, &blocked, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            // SIGURG's default action is to ignore it: ignoring it explicitly changes nothing for this process.
            let disposition = signal(SIGURG, SIG_IGN)
            defer { signal(SIGURG, disposition) }
            return try runProcess("/bin/cat", ["/proc/self/status"]).stdout
        }
        // The standard signals 1–31 only: glibc keeps its two internal ones (32, 33) to itself.
        func standardSignals(_ field: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(field + ":\t") }
                .flatMap { UInt64($0.dropFirst(field.count + 2), radix: 16) }.map { $0 & 0x7fff_ffff }
        }
        #expect(standardSignals("SigBlk") == 0, "\(status)")
        #expect(standardSignals("SigIgn") == 0, "\(status)")
    }
}
