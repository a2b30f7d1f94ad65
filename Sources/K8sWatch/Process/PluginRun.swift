import Posix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to its end on the calling thread, stdout and stderr captured separately (stdout
/// capped), killed with its process group at a timeout or when `isCancelled` says so. Groups still
/// running when ipsyncd exits are killed too (an atexit handler), so no plugin outlives the daemon.
enum PluginRun {
    struct Output {
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]
    }

    enum Failure: Error {
        case notStarted(String)
        case timedOut
        case cancelled
        case tooMuchOutput
    }

    static func run(_ path: String, _ arguments: [String], environment: [String: String], timeout: Duration,
                    outputCap: Int, isCancelled: () -> Bool) -> Result<Output, Failure> {
        guard let out = pipe(), let err = pipe() else { return .failure(.notStarted("pipe: \(String(cString: strerror(errno)))")) }
        defer { close(out.read); close(err.read) }
        var spawned: Result<pid_t, ProcessGroup.SpawnFailure> = .failure(.init(errno: 0))
        // "Text file busy": a plugin script written a moment ago may still be open in a child that another
        // thread forked; the window is short, so try again briefly.
        for attempt in 1...20 {
            spawned = running.withLock { groups in
                let result = ProcessGroup.spawn(path, arguments, environment: environment, stdout: out.write, stderr: err.write)
                if case .success(let pid) = result { groups.insert(pid) }
                return result
            }
            if case .failure(let failure) = spawned, failure.errno == ETXTBSY, attempt < 20 { usleep(10_000); continue }
            break
        }
        close(out.write)
        close(err.write)
        let pid: pid_t
        switch spawned {
        case .success(let started): pid = started
        case .failure(let failure): return .failure(.notStarted(failure.description))
        }
        _ = atExitHandler
        defer { _ = running.withLock { $0.remove(pid) } }

        var stdout = Capture(cap: outputCap), stderr = Capture(cap: 64 << 10, keepsTail: true)
        let end = ContinuousClock.now + timeout
        var status: Int32 = 0
        while true {
            if waitpid(pid, &status, WNOHANG) == pid {
                stdout.drain(out.read)
                stderr.drain(err.read)
                break
            }
            let failure: Failure? = stdout.overflowed ? .tooMuchOutput
                : isCancelled() ? .cancelled
                : ContinuousClock.now >= end ? .timedOut : nil
            if let failure {
                _ = ProcessGroup.terminate(pid) { stdout.drain(out.read); stderr.drain(err.read); usleep(10_000) }
                return .failure(failure)
            }
            var fds = [pollfd(fd: out.read, events: Int16(POLLIN), revents: 0), pollfd(fd: err.read, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 2, 20) > 0 {
                let outClosed = stdout.drain(out.read), errClosed = stderr.drain(err.read)
                if outClosed && errClosed { usleep(20_000) }   // both at EOF: the plugin is exiting
            }
        }
        return .success(Output(status: ProcessGroup.exitCode(status), stdout: stdout.bytes, stderr: stderr.bytes))
    }

    /// Process groups of plugins now running.
    private static let running = Mutex<Set<pid_t>>([])

    private static let atExitHandler: Void = {
        atexit {
            for pid in PluginRun.running.withLock({ $0 }) { kill(-pid, SIGKILL) }
        }
    }()

    private static func pipe() -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else { return nil }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        return (fds[0], fds[1])
    }

    /// Bytes read from a non-blocking pipe, at most `cap` (or the last `cap` when `keepsTail`).
    private struct Capture {
        let cap: Int
        var keepsTail = false
        var bytes: [UInt8] = []
        var overflowed = false

        /// Reads what is there; true at EOF.
        @discardableResult
        mutating func drain(_ fd: Int32) -> Bool {
            var chunk = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    bytes.append(contentsOf: chunk[0..<count])
                    if bytes.count > cap {
                        if keepsTail { bytes.removeFirst(bytes.count - cap) } else { overflowed = true; bytes.removeLast(bytes.count - cap) }
                    }
                    continue
                }
                if count == 0 { return true }
                if errno == EINTR { continue }
                return false
            }
        }
    }
}
