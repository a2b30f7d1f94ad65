import Glibc

/// The exclusive lock that lets one ipsyncd at a time (daemon or one-shot) touch the site file:
/// `flock` on `stateDir/lock`. The kernel releases it when the holder dies, so a crash never
/// leaves it stuck. The holder calls `release()` (in a `defer`).
struct ApplyLock: Sendable {
    let path: String
    private let fd: Int32

    /// Waits up to `timeout` (polling, so no thread blocks in flock) for the lock.
    static func acquire(stateDir: String, timeout: Duration) async throws(ApplyError) -> ApplyLock {
        do {
            try FileSystem.makeDirectory(stateDir, mode: 0o700)
        } catch {
            throw ApplyError(code: .stateDir, message: "cannot create the state directory: \(error); create it (mode 0700) or set state_dir")
        }
        let path = stateDir + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ApplyError(code: .stateDir, message: "cannot open the lock file \(path): \(FileSystem.describe(errno)); check state_dir's permissions")
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return ApplyLock(path: path, fd: fd) }
            let failure = errno
            guard failure == EWOULDBLOCK || failure == EINTR else {
                close(fd)
                throw ApplyError(code: .stateDir, message: "cannot lock \(path): \(FileSystem.describe(failure))")
            }
            if clock.now >= deadline || Task.isCancelled { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        close(fd)
        throw ApplyError(code: .lockBusy,
                         message: "another ipsyncd holds the lock at \(path); wait for it to finish or stop it (only one ipsyncd may apply at a time)")
    }

    /// Closing the descriptor releases the flock.
    func release() { close(fd) }
}
