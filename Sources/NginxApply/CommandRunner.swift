import Dispatch
import Glibc
import Posix
import Synchronization

/// What a shell command did.
package struct CommandResult: Sendable {
    /// The exit code, 128 + N when killed by signal N, 127 when `/bin/sh` could not be started.
    package var status: Int32
    /// stdout and stderr interleaved, at most `CommandRunner.outputCap` bytes.
    package var output: [UInt8]
    package var truncated: Bool
    /// The command overran its timeout and its process group was killed.
    package var timedOut: Bool
    package var duration: Duration
    /// The task that ran it was cancelled (a stop that outlasted its grace): its process group was killed.
    package var cancelled = false

    package var succeeded: Bool { status == 0 && !timedOut && !cancelled }
    package var outputText: String { String(decoding: output, as: UTF8.self) }
}

/// Runs `/bin/sh -c CMD` in a process group of its own, with stdin from /dev/null, stdout and
/// stderr captured through one pipe, a timeout that kills the whole group (SIGTERM, then SIGKILL
/// after 1 s), and the child always reaped. The waiting happens on a thread of its own, never on
/// the cooperative pool (a hung command must not starve the daemon's tasks). Cancelling the calling
/// task kills the group at once (SIGKILL), so that a daemon that stops never leaves a command behind.
package struct CommandRunner: Sendable {
    package static let outputCap = 64 * 1024
    package var timeout: Duration

    package init(timeout: Duration) {
        self.timeout = timeout
    }

    package func run(_ command: String) async -> CommandResult {
        let timeout = self.timeout
        let child = Child()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue(label: "ipsyncd.command").async {
                    continuation.resume(returning: Self.runBlocking(command, timeout: timeout, child: child))
                }
            }
        } onCancel: {
            child.cancel()
        }
    }

    /// Blocks the calling thread until the command has exited and been reaped.
    static func runBlocking(_ command: String, timeout: Duration, child: Child = Child()) -> CommandResult {
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
        child.started(pid)
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        // The shell's exit wakes the wait below at once (a pidfd); without one, the wait ends every 10 ms.
        let exited = ProcessGroup.exitDescriptor(of: pid)
        defer { if let exited { close(exited) } }

        var output = OutputBuffer(pipe: readEnd, exited: exited)
        let deadline = start + timeout
        var waitStatus: Int32 = 0
        var timedOut = false, cancelled = false
        while true {
            if let status = child.reap(block: false) {
                waitStatus = status
                cancelled = child.isCancelled  // the cancel's SIGKILL may be what ended it
                output.drain()  // what the shell wrote last; grandchildren holding the pipe are not waited for
                break
            }
            if child.isCancelled {
                cancelled = true  // the cancel already sent SIGKILL to the group
                waitStatus = child.reap(block: true) ?? 0
                output.drain()
                break
            }
            let now = clock.now
            if now >= deadline {
                timedOut = true
                waitStatus = killGroup(child, output: &output)
                break
            }
            output.wait(upTo: exited == nil ? .milliseconds(10) : min(deadline - now, .seconds(1)))
        }
        return CommandResult(status: exitCode(waitStatus), output: output.bytes, truncated: output.truncated,
                             timedOut: timedOut, duration: clock.now - start, cancelled: cancelled)
    }

    /// SIGTERM to the group, SIGKILL to what is left after 1 s; returns the shell's reaped wait status.
    private static func killGroup(_ child: Child, output: inout OutputBuffer) -> Int32 {
        child.signalGroup(SIGTERM)
        let clock = ContinuousClock()
        let grace = clock.now + .seconds(1)
        var reaped: Int32?
        while clock.now < grace && !child.isCancelled {
            reaped = child.reap(block: false)
            if reaped != nil { break }
            output.wait(upTo: .milliseconds(10))
        }
        // Also after the shell is gone: a grandchild that ignored SIGTERM is still in the group.
        child.signalGroup(SIGKILL, evenIfReaped: true)
        let waitStatus = reaped ?? child.reap(block: true) ?? 0
        output.drain()
        return waitStatus
    }

    /// The running shell, shared with the cancellation handler: a signal to its group is sent only while
    /// the shell is not yet reaped (its pid, the group's id, cannot have been reused then).
    final class Child: Sendable {
        private struct State { var pid: pid_t = 0; var reaped = false; var cancelled = false }
        private let state = Mutex(State())

        init() {}

        func started(_ pid: pid_t) {
            state.withLock { state in
                state.pid = pid
                if state.cancelled { kill(-pid, SIGKILL) }
            }
        }

        /// From the task's cancellation handler: SIGKILL to the whole group, at once (the stop's grace is over).
        func cancel() {
            state.withLock { state in
                state.cancelled = true
                if state.pid > 0 && !state.reaped { kill(-state.pid, SIGKILL) }
            }
        }

        var isCancelled: Bool { state.withLock { $0.cancelled } }

        func signalGroup(_ signal: Int32, evenIfReaped: Bool = false) {
            state.withLock { state in
                if state.pid > 0 && (!state.reaped || evenIfReaped) { kill(-state.pid, signal) }
            }
        }

        /// The shell's wait status once it has exited (`block`: wait for that), nil while it runs.
        func reap(block: Bool) -> Int32? {
            let pid = state.withLock { $0.pid }
            var status: Int32 = 0
            while true {
                // Under the lock, so that `cancel` never signals a group whose leader was just reaped.
                let (result, failure) = state.withLock { state -> (pid_t, Int32) in
                    let result = waitpid(pid, &status, WNOHANG)
                    if result == pid { state.reaped = true }
                    return (result, errno)
                }
                if result == pid { return status }
                if result == -1 && failure != EINTR { return nil }
                if !block { return nil }
                usleep(2_000)
            }
        }
    }

    /// `/bin/sh -c command` through the one spawn primitive (own group, clean signals, fds 0–2 only).
    private static func spawnShell(_ command: String, stdoutFD: Int32, pid: inout pid_t) -> Int32 {
        switch ProcessGroup.spawn("/bin/sh", ["-c", command], environment: nil, stdout: stdoutFD, stderr: stdoutFD) {
        case .success(let started): pid = started; return 0
        case .failure(let failure): return failure.errno
        }
    }

    private static func exitCode(_ status: Int32) -> Int32 { ProcessGroup.exitCode(status) }

    private static func failedToStart(_ message: String, start: ContinuousClock.Instant) -> CommandResult {
        CommandResult(status: 127, output: Array(message.utf8), truncated: false, timedOut: false,
                      duration: ContinuousClock().now - start, cancelled: false)
    }
}

/// The captured output, capped; bytes past the cap are read and dropped so the child never blocks.
private struct OutputBuffer {
    var bytes: [UInt8] = []
    var truncated = false
    /// The pipe's read end until it reports EOF, then -1 (poll skips a negative descriptor).
    private var pipe: Int32
    /// Polls readable once the shell has exited; -1 without one.
    private let exited: Int32
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)

    init(pipe: Int32, exited: Int32?) {
        self.pipe = pipe
        self.exited = exited ?? -1
    }

    /// Waits until output arrives, the pipe closes, the shell exits or `wait` has passed; reads what is there.
    mutating func wait(upTo wait: Duration) {
        var fds = [pollfd(fd: pipe, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: exited, events: Int16(POLLIN), revents: 0)]
        let ms = Int32(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&fds, 2, max(ms, 1)) > 0, fds[0].revents != 0 else { return }
        if readAvailable(pipe) == .closed { pipe = -1 }
    }

    mutating func drain() {
        if pipe >= 0 { _ = readAvailable(pipe) }
    }

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

