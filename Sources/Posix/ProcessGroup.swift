#if canImport(Glibc)
import Glibc
#endif

/// The one way ipsyncd starts a program (the check and reload commands, exec credential plugins):
/// in a process group of its own (a timeout kills the whole tree), with default signal dispositions
/// and an empty signal mask (a thread of the daemon blocks HUP, INT, TERM and CHLD; a child that
/// inherited that mask could not be terminated), and with descriptors 0–2 only (no lock, socket or
/// half-written file of the daemon leaks into it).
package enum ProcessGroup {
    /// Starts `path` with `arguments` (argv[1…]); stdin from `stdin`, else /dev/null. Returns the pid,
    /// which is also the group's id, or posix_spawn's errno. `ownGroup: false` keeps the child in the
    /// caller's group (test helpers whose children should end with the test run).
    package static func spawn(_ path: String, _ arguments: [String], environment: [String: String]?,
                              stdin: Int32? = nil, stdout: Int32, stderr: Int32,
                              ownGroup: Bool = true) -> Result<pid_t, SpawnFailure> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        if let closeFrom = addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        let group = ownGroup ? POSIX_SPAWN_SETPGROUP : 0
        posix_spawnattr_setflags(&attributes, Int16(group | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var envp: [UnsafeMutablePointer<CChar>?] = (environment ?? [:]).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in envp { free(entry) } }
        var pid: pid_t = 0
        let code = environment == nil
            ? posix_spawn(&pid, path, &actions, &attributes, &argv, environ)
            : posix_spawn(&pid, path, &actions, &attributes, &argv, &envp)
        return code == 0 ? .success(pid) : .failure(SpawnFailure(errno: code))
    }

    package struct SpawnFailure: Error, CustomStringConvertible {
        package var errno: Int32
        package init(errno: Int32) { self.errno = errno }
        package var description: String { String(cString: strerror(errno)) }
    }

    /// SIGTERM to the group, SIGKILL to what is left after `grace` (also once the leader is gone: a
    /// grandchild that ignored SIGTERM is still in the group). `waiting` runs between checks (≤ 10 ms
    /// each, e.g. to drain a pipe). Returns the leader's reaped wait status.
    package static func terminate(_ pid: pid_t, grace: Duration = .seconds(1), waiting: () -> Void = { usleep(10_000) }) -> Int32 {
        var status: Int32 = 0
        kill(-pid, SIGTERM)
        let clock = ContinuousClock()
        let end = clock.now + grace
        var reaped = false
        while clock.now < end {
            if waitpid(pid, &status, WNOHANG) == pid { reaped = true; break }
            waiting()
        }
        kill(-pid, SIGKILL)
        if !reaped {
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
        return status
    }

    /// The exit code: 128 + N when killed by signal N.
    package static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// A descriptor that polls readable once `pid`, a child of this process, has exited (a pidfd, close-on-exec),
    /// so that its end is waited for with `poll` instead of a sleep loop; nil where the kernel or libc has none.
    /// The child is not reaped by this: `waitpid` still does that.
    package static func exitDescriptor(of pid: pid_t) -> Int32? {
        guard let open = pidfdOpen else { return nil }
        let fd = open(pid, 0)
        return fd >= 0 ? fd : nil
    }

    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    /// glibc 2.36+, Linux 5.3+; not in Swift's Glibc module either.
    private static let pidfdOpen: PidfdOpen? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_open")
        .map { unsafeBitCast($0, to: PidfdOpen.self) }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    /// glibc 2.34+ (Debian 12 has 2.36); Swift's Glibc module does not declare it.
    private static let addCloseFrom: CloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0),
                                                         "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }
}
