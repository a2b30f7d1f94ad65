import Foundation

import Glibc
import Posix

/// The built `ipsyncd` binary as a child process, for end-to-end tests that drive only the CLI.
///
/// Spawned with `posix_spawn` in a process group of its own, with an empty signal mask and default
/// signal dispositions (the test process may have SIGTERM or SIGHUP blocked; a child would inherit
/// that). stdout and stderr are read line by line while it runs; a thread reaps it as soon as it
/// exits, and the value's release kills and reaps it if it still runs.
public final class IpsyncdProcess: @unchecked Sendable {
    public let pid: pid_t
    public let arguments: [String]
    private let state = OutputState()

    /// Where the binary is: `$IPSYNCD_BINARY`, else beside the running test bundle (the build's bin
    /// directory, which `swift test` builds `ipsyncd` into), else `.build/debug/ipsyncd`.
    public static let binaryPath: String = {
        if let path = ProcessInfo.processInfo.environment["IPSYNCD_BINARY"], !path.isEmpty { return path }
        var dir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                      ?? CommandLine.arguments[0]).deletingLastPathComponent()
        // The test binary may sit inside a bundle (`X.xctest/...`): walk up to the directory holding it.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("ipsyncd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return repositoryRoot.appendingPathComponent(".build/debug/ipsyncd").path
    }()

    /// Starts `ipsyncd ARGUMENTS` with stdin from /dev/null. `environment` defaults to this process's,
    /// without `JOURNAL_STREAM`, `NOTIFY_SOCKET` and `KUBECONFIG` (tests pass what they mean).
    public init(_ arguments: [String], environment: [String: String]? = nil) throws {
        self.arguments = arguments
        let binary = Self.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw SandboxError("ipsyncd binary not found at \(binary): run `swift build` first")
        }
        var env = environment ?? ProcessInfo.processInfo.environment
        if environment == nil { for key in ["JOURNAL_STREAM", "NOTIFY_SOCKET", "KUBECONFIG"] { env[key] = nil } }

        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw SandboxError("pipe failed: errno \(errno)") }
        // Close-on-exec, so that no other child spawned meanwhile keeps these pipes open.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let result = ProcessGroup.spawn(binary, arguments, environment: env, stdout: outPipe[1], stderr: errPipe[1])
        close(outPipe[1])
        close(errPipe[1])
        let child: pid_t
        switch result {
        case .success(let started): child = started
        case .failure(let failure):
            close(outPipe[0]); close(errPipe[0])
            throw SandboxError("cannot start \(binary): \(failure)")
        }
        pid = child
        // The threads hold the state, not `self`: releasing the value still stops the process.
        let (outFD, errFD, state, spawned) = (outPipe[0], errPipe[0], state, child)
        Thread.detachNewThread { state.pump(outFD, isStderr: false) }
        Thread.detachNewThread { state.pump(errFD, isStderr: true) }
        Thread.detachNewThread { state.reap(spawned) }
    }

    deinit { stop() }

    // MARK: Output

    /// Every complete stderr line so far (the log, with `--log-format text`).
    public var lines: [String] { state.condition.withLock { state.errLines } }
    /// The whole stderr so far, for failure messages.
    public var log: String { lines.joined(separator: "\n") }
    /// stdout so far, as bytes (a diff must compare byte for byte).
    public var stdoutBytes: [UInt8] { state.condition.withLock { state.outBytes } }
    public var stdout: String { String(decoding: stdoutBytes, as: UTF8.self) }

    /// The first stderr line at index ≥ `from` that matches, waiting up to `timeout` seconds;
    /// nil if none came in time or the process closed stderr without one.
    public func waitForLine(from: Int = 0, timeout: Double = 20, where matches: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        let condition = state.condition
        condition.lock()
        defer { condition.unlock() }
        while true {
            let lines = state.errLines
            if from < lines.count, let found = lines[from...].first(where: matches) { return found }
            if state.streamsOpen == 0 || !condition.wait(until: deadline) {
                return from < state.errLines.count ? state.errLines[from...].first(where: matches) : nil
            }
        }
    }

    /// How many stderr lines so far match.
    public func count(where matches: (String) -> Bool) -> Int { lines.filter(matches).count }

    // MARK: Signals and exit

    public func signal(_ signal: Int32) {
        state.condition.lock()
        defer { state.condition.unlock() }
        // Only while not reaped: after waitpid the pid may belong to another process.
        if state.exitStatus == nil { kill(pid, signal) }
    }

    /// The exit code (128 + N after signal N) once it exited and its output is read, waiting up to
    /// `timeout` seconds; nil if it still runs.
    public func waitForExit(timeout: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        let condition = state.condition
        condition.lock()
        defer { condition.unlock() }
        // A grandchild that inherited stdout/stderr may hold them open a little longer: past the
        // deadline, an exit status alone is enough.
        while state.exitStatus == nil || state.streamsOpen > 0 {
            if !condition.wait(until: deadline) { break }
        }
        return state.exitStatus
    }

    /// SIGKILL and wait until reaped.
    public func kill9() {
        signal(SIGKILL)
        _ = waitForExit(timeout: 30)
    }

    /// SIGTERM, SIGKILL after 5 s; reaped. Idempotent.
    public func stop() {
        signal(SIGTERM)
        if waitForExit(timeout: 5) == nil { kill9() }
    }

    // MARK: One-shot commands

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: String
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs a command that exits by itself (`sync`, `status`, `check`, `render`), killed after `timeout` s.
    public static func run(_ arguments: [String], timeout: Double = 60,
                           environment: [String: String]? = nil) throws -> Result {
        let process = try IpsyncdProcess(arguments, environment: environment)
        guard let status = process.waitForExit(timeout: timeout) else {
            process.kill9()
            throw SandboxError("ipsyncd \(arguments.joined(separator: " ")) did not exit within \(timeout) s:\n\(process.log)")
        }
        return Result(status: status, stdout: process.stdoutBytes, stderr: process.log)
    }
}

/// What the reader and reaper threads share with the process value.
private final class OutputState: @unchecked Sendable {
    let condition = NSCondition()
    var outBytes: [UInt8] = []
    var errLines: [String] = []
    var errPending: [UInt8] = []
    var streamsOpen = 2
    var exitStatus: Int32?

    func pump(_ fd: Int32, isStderr: Bool) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            condition.lock()
            if count <= 0 {
                if isStderr && !errPending.isEmpty { errLines.append(String(decoding: errPending, as: UTF8.self)) }
                streamsOpen -= 1
                condition.broadcast()
                condition.unlock()
                close(fd)
                return
            }
            if isStderr {
                errPending += buffer[..<count]
                while let newline = errPending.firstIndex(of: UInt8(ascii: "\n")) {
                    errLines.append(String(decoding: errPending[..<newline], as: UTF8.self))
                    errPending.removeSubrange(...newline)
                }
            } else {
                outBytes += buffer[..<count]
            }
            condition.broadcast()
            condition.unlock()
        }
    }

    func reap(_ pid: pid_t) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // Exit code, or 128 + signal like a shell says it.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        condition.lock()
        exitStatus = code
        condition.broadcast()
        condition.unlock()
    }
}
