import Foundation

import Glibc
import Posix

// Child processes for tests, spawned with posix_spawn rather than Foundation's Process (see
// SpawnedProcess for why); `blocking` (Blocking.swift) waits for them without blocking Swift's cooperative pool.

/// A child process whose stdout is read line by line while it runs (a `curl -N` or `kubectl --watch`
/// against the test API server). Stopped with SIGTERM, then SIGKILL, and always reaped.
public final class StreamingProcess: @unchecked Sendable {
    private let child: SpawnedProcess
    private let condition = NSCondition()
    private var collected: [String] = []
    private var errBytes: [UInt8] = []
    private var finished = false

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        let out = try SpawnedProcess.pipe(), err = try SpawnedProcess.pipe()
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null); close(out.write); close(err.write) }
        do {
            child = try SpawnedProcess(executable, arguments, environment: environment,
                                       stdin: null, stdout: out.write, stderr: err.write)
        } catch {
            close(out.read); close(err.read)
            throw error
        }
        let outHandle = FileHandle(fileDescriptor: out.read, closeOnDealloc: true)
        let errHandle = FileHandle(fileDescriptor: err.read, closeOnDealloc: true)
        Thread.detachNewThread { [self] in
            var pending: [UInt8] = []
            while true {
                let chunk = outHandle.availableData
                condition.lock()
                if chunk.isEmpty {
                    if !pending.isEmpty { collected.append(String(decoding: pending, as: UTF8.self)) }
                    finished = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                pending += chunk
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    collected.append(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
                condition.broadcast()
                condition.unlock()
            }
        }
        Thread.detachNewThread { [self] in
            while true {
                let chunk = errHandle.availableData
                if chunk.isEmpty { return }
                condition.lock()
                errBytes += chunk
                condition.unlock()
            }
        }
    }

    deinit { stop() }

    /// Every complete stdout line so far.
    public var lines: [String] {
        condition.lock()
        defer { condition.unlock() }
        return collected
    }

    /// stderr so far.
    public var stderr: String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: errBytes, as: UTF8.self)
    }

    /// The first line (from the start) that matches, waiting up to `timeout` seconds; nil if none
    /// arrived in time or stdout closed without one.
    public func waitForLine(timeout: Double = 15, where matches: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let found = collected.first(where: matches) { return found }
            if finished || !condition.wait(until: deadline) { return collected.first(where: matches) }
        }
    }

    /// `waitForLine` without blocking the cooperative pool.
    public func line(timeout: Double = 15, where matches: @escaping @Sendable (String) -> Bool) async -> String? {
        (try? await blocking { self.waitForLine(timeout: timeout, where: matches) }) ?? nil
    }

    /// `waitForExit` without blocking the cooperative pool.
    public func exitStatus(timeout: Double = 15) async -> Int32? {
        (try? await blocking { self.waitForExit(timeout: timeout) }) ?? nil
    }

    /// Waits for the process to exit by itself (up to `timeout` seconds); its exit status
    /// (128 + signal when killed), or nil if it still runs.
    public func waitForExit(timeout: Double = 15) -> Int32? {
        child.wait(timeout: timeout)
    }

    /// SIGTERM, SIGKILL after 2 s; reaped. Idempotent.
    public func stop() { child.terminate() }
}

/// Runs a program to completion and captures its output (spawned with `SpawnedProcess`: see there
/// why). `timeout` is a safety net in seconds; the program is stopped when it overruns.
@discardableResult
public func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                       timeout: Double = 300) throws -> ProcessResult {
    let out = try SpawnedProcess.pipe(), err = try SpawnedProcess.pipe()
    let null = open("/dev/null", O_RDWR | O_CLOEXEC)
    defer { close(out.read); close(err.read) }
    let child: SpawnedProcess
    do {
        defer { close(null); close(out.write); close(err.write) }
        child = try SpawnedProcess(executable, arguments, environment: environment,
                                   stdin: null, stdout: out.write, stderr: err.write)
    }
    var collected: [[UInt8]] = [[], []]
    var fds = [pollfd(fd: out.read, events: Int16(POLLIN), revents: 0), pollfd(fd: err.read, events: Int16(POLLIN), revents: 0)]
    var open = 2
    let deadline = Date().addingTimeInterval(timeout)
    var buffer = [UInt8](repeating: 0, count: 65536)
    while open > 0 && Date() < deadline {
        guard poll(&fds, 2, 100) >= 0 || errno == EINTR else { break }
        for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
            let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
            if n > 0 {
                collected[i] += buffer[..<n]
            } else if n == 0 || errno != EINTR {
                fds[i].fd = -1
                open -= 1
            }
        }
    }
    if open > 0 { child.terminate() }
    let status = child.wait(timeout: timeout) ?? { child.terminate(); return child.wait(timeout: 5) ?? -1 }()
    return ProcessResult(status: status, stdout: String(decoding: collected[0], as: UTF8.self),
                         stderr: String(decoding: collected[1], as: UTF8.self), stdoutBytes: collected[0])
}

/// A child started with posix_spawn in which every descriptor but 0, 1 and 2 is closed.
///
/// Foundation's `Process` lets a child inherit descriptors that other threads opened at the same
/// moment, among them the socket by which Foundation notices that *another* child exited: a
/// long-lived child (a server, a `kubectl --watch`) that holds one makes that other child's
/// `waitUntilExit()` hang. Tests start many children in parallel, so these helpers spawn their own.
final class SpawnedProcess: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    /// Swift's Glibc module does not declare pipe2 either.
    private static let pipe2: Pipe2? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2")
        .map { unsafeBitCast($0, to: Pipe2.self) }

    /// A pipe whose ends are close-on-exec (a child gets only what it is handed as 0, 1, 2).
    static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        if let pipe2 = Self.pipe2 {
            guard pipe2(&fds, O_CLOEXEC) == 0 else { throw TestAPIServerError("pipe2 failed: errno \(errno)") }
        } else {
            guard Glibc.pipe(&fds) == 0 else { throw TestAPIServerError("pipe failed: errno \(errno)") }
            fds.forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
        }
        return (fds[0], fds[1])
    }

    init(_ executable: String, _ arguments: [String], environment: [String: String]?,
         stdin: Int32, stdout: Int32, stderr: Int32) throws {
        switch ProcessGroup.spawn(executable, arguments, environment: environment, stdin: stdin,
                                  stdout: stdout, stderr: stderr, ownGroup: false) {
        case .success(let child): pid = child
        case .failure(let failure): throw TestAPIServerError("cannot start \(executable): \(failure)")
        }
    }

    deinit { terminate() }

    /// The exit status (128 + signal when killed) once it exited and was reaped, else nil.
    func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        let signal = raw & 0x7f
        status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        return status
    }

    /// Waits up to `timeout` seconds for the exit; the status, or nil if it still runs.
    func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = poll() { return status }
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// SIGTERM, SIGKILL after `grace` seconds, reaped. Idempotent.
    func terminate(grace: Double = 2) {
        if poll() != nil { return }
        kill(pid, SIGTERM)
        if wait(timeout: grace) != nil { return }
        kill(pid, SIGKILL)
        _ = wait(timeout: 3600)
    }
}
