import Dispatch
import Glibc
import Posix

/// What a shell command did.
public struct CommandResult: Sendable {
    /// The exit code, 128 + N when killed by signal N, 127 when `/bin/sh` could not be started.
    public var status: Int32
    /// stdout and stderr interleaved, at most `CommandRunner.outputCap` bytes.
    public var output: [UInt8]
    public var truncated: Bool
    /// The command overran its timeout and its process group was killed.
    public var timedOut: Bool
    public var duration: Duration

    public var succeeded: Bool { status == 0 && !timedOut }
    public var outputText: String { String(decoding: output, as: UTF8.self) }
}

/// Runs `/bin/sh -c CMD` in a process group of its own, with stdin from /dev/null, stdout and
/// stderr captured through one pipe, a timeout that kills the whole group (SIGTERM, then SIGKILL
/// after 1 s), and the child always reaped. The waiting happens on a thread of its own, never on
/// the cooperative pool (a hung command must not starve the daemon's tasks).
public struct CommandRunner: Sendable {
    public static let outputCap = 64 * 1024
    public var timeout: Duration

    public init(timeout: Duration) {
        self.timeout = timeout
    }

    public func run(_ command: String) async -> CommandResult {
        let timeout = self.timeout
        return await withCheckedContinuation { continuation in
            DispatchQueue(label: "ipsyncd.command").async {
                continuation.resume(returning: Self.runBlocking(command, timeout: timeout))
            }
        }
    }

    /// Blocks the calling thread until the command has exited and been reaped.
    static func runBlocking(_ command: String, timeout: Duration) -> CommandResult {
        let clock = ContinuousClock()
        let start = clock.now
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            return failedToStart("pipe: \(FileSystem.describe(errno))", start: start)
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        // pipe2 is not exported to Swift; a child spawned elsewhere in this instant may inherit the
        // write end, which is harmless: the output is read until our shell exits, not until EOF.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        defer { close(readEnd) }

        var pid: pid_t = 0
        let spawnError = spawnShell(command, stdoutFD: writeEnd, pid: &pid)
        close(writeEnd)  // the child holds its own copies; EOF comes when it (and its children) close them
        if spawnError != 0 {
            return failedToStart("posix_spawn /bin/sh: \(Posix.describe(spawnError))", start: start)
        }
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)

        var output = OutputBuffer()
        let deadline = start + timeout
        var waitStatus: Int32 = 0
        var timedOut = false
        while true {
            if waitpid(pid, &waitStatus, WNOHANG) == pid {
                output.drain(readEnd)  // what the shell wrote last; grandchildren holding the pipe are not waited for
                break
            }
            if clock.now >= deadline {
                timedOut = true
                waitStatus = killGroup(pid, output: &output, readEnd: readEnd)
                break
            }
            output.waitAndRead(readEnd, upTo: .milliseconds(10))
        }
        return CommandResult(status: exitCode(waitStatus), output: output.bytes, truncated: output.truncated,
                             timedOut: timedOut, duration: clock.now - start)
    }

    /// SIGTERM to the group, SIGKILL to what is left after 1 s; returns the shell's reaped wait status.
    private static func killGroup(_ pid: pid_t, output: inout OutputBuffer, readEnd: Int32) -> Int32 {
        var waitStatus: Int32 = 0
        kill(-pid, SIGTERM)
        let clock = ContinuousClock()
        let grace = clock.now + .seconds(1)
        var reaped = false
        while clock.now < grace {
            if waitpid(pid, &waitStatus, WNOHANG) == pid { reaped = true; break }
            output.waitAndRead(readEnd, upTo: .milliseconds(10))
        }
        // Also after the shell is gone: a grandchild that ignored SIGTERM is still in the group.
        kill(-pid, SIGKILL)
        if !reaped {
            while waitpid(pid, &waitStatus, 0) == -1 && errno == EINTR {}
        }
        output.drain(readEnd)
        return waitStatus
    }

    private static func spawnShell(_ command: String, stdoutFD: Int32, pid: inout pid_t) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
        posix_spawn_file_actions_adddup2(&actions, stdoutFD, 2)
        // The child gets 0, 1 and 2 only: no lock, socket or half-written file of the daemon's leaks into
        // nginx or systemctl (a child holding a file open for writing also makes exec of it fail, ETXTBSY).
        if let closeFrom = addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (so a timeout can kill the whole tree); default signal dispositions and
        // an empty mask, because a daemon that ignores or blocks signals would pass that on.
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ["/bin/sh", "-c", command]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        return posix_spawn(&pid, "/bin/sh", &actions, &attributes, &cArgs, environ)
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    /// glibc 2.34+ (Debian 12 has 2.36); Swift's Glibc module does not declare it.
    private static let addCloseFrom: CloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0),
                                                         "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }

    private static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        if signal == 0 { return (status >> 8) & 0xff }
        return 128 + signal
    }

    private static func failedToStart(_ message: String, start: ContinuousClock.Instant) -> CommandResult {
        CommandResult(status: 127, output: Array(message.utf8), truncated: false, timedOut: false,
                      duration: ContinuousClock().now - start)
    }
}

/// The captured output, capped; bytes past the cap are read and dropped so the child never blocks.
private struct OutputBuffer {
    var bytes: [UInt8] = []
    var truncated = false
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)

    mutating func waitAndRead(_ fd: Int32, upTo wait: Duration) {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        if poll(&pfd, 1, ms) > 0 {
            if readAvailable(fd) == .closed {
                // EOF: nothing more to read; sleep instead of spinning on a closed pipe.
                usleep(UInt32(ms) * 1000)
            }
        }
    }

    mutating func drain(_ fd: Int32) { _ = readAvailable(fd) }

    private enum ReadEnd { case open, closed }

    private mutating func readAvailable(_ fd: Int32) -> ReadEnd {
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                let room = max(0, CommandRunner.outputCap - bytes.count)
                if count > room { truncated = true }
                bytes.append(contentsOf: chunk[0..<min(count, room)])
                continue
            }
            if count == 0 { return .closed }
            if errno == EINTR { continue }
            return .open  // EAGAIN: nothing more for now
        }
    }
}

