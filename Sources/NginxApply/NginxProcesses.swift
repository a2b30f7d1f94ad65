import Glibc

/// nginx's master and its children, read from the pid file and `/proc/*/stat`: how the applier
/// sees that a reload really happened (the master starts new workers).
enum NginxProcesses {
    /// The master's pid from the pid file, if the file holds a live process's pid.
    static func masterPid(pidFile: String) -> pid_t? {
        guard let bytes = try? FileSystem.read(pidFile),
              let pid = pid_t(String(decoding: bytes, as: UTF8.self).trimmingSuffixWhitespace()),
              pid > 0, kill(pid, 0) == 0 || errno == EPERM
        else { return nil }
        return pid
    }

    /// Live children of `parent` (workers, cache manager and loader): the kernel's list of the master's children
    /// (one small read, so that it costs nothing between the check and the reload), else each `/proc/PID/stat`'s ppid.
    static func children(of parent: pid_t) -> Set<pid_t> {
        // Each thread has its own list (nginx's master has one thread).
        guard let threads = entries("/proc/\(parent)/task"), !threads.isEmpty,
              FileSystem.exists("/proc/\(parent)/task/\(threads[0])/children") else { return scannedChildren(of: parent) }
        var listed: [pid_t] = []
        for thread in threads {
            guard let bytes = try? FileSystem.read("/proc/\(parent)/task/\(thread)/children") else { continue }
            listed += String(decoding: bytes, as: UTF8.self).split(separator: " ").compactMap { pid_t($0) }
        }
        return Set(listed.filter { parseStat($0).map { $0.state != "Z" && $0.ppid == parent } ?? false })
    }

    /// The numeric names in a /proc directory; nil when it cannot be read.
    private static func entries(_ directory: String) -> [pid_t]? {
        guard let dir = opendir(directory) else { return nil }
        defer { closedir(dir) }
        var found: [pid_t] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let pid = pid_t(name) { found.append(pid) }
        }
        return found
    }

    /// Without CONFIG_PROC_CHILDREN: every process's ppid.
    static func scannedChildren(of parent: pid_t) -> Set<pid_t> {
        Set((entries("/proc") ?? []).filter { parseStat($0).map { $0.state != "Z" && $0.ppid == parent } ?? false })
    }

    /// `pid (comm) S ppid …`: comm may hold spaces and parentheses, so fields start after the last ')'.
    static func parseStat(_ pid: pid_t) -> (state: Character, ppid: pid_t)? {
        guard let bytes = try? FileSystem.read("/proc/\(pid)/stat") else { return nil }
        return parseStat(String(decoding: bytes, as: UTF8.self))
    }

    static func parseStat(_ text: String) -> (state: Character, ppid: pid_t)? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 2, let state = fields[0].first, let ppid = pid_t(fields[1]) else { return nil }
        return (state, ppid)
    }
}
