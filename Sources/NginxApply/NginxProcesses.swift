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

    /// Live children of `parent` (workers, cache manager and loader), from each `/proc/PID/stat`'s ppid.
    static func children(of parent: pid_t) -> Set<pid_t> {
        guard let proc = opendir("/proc") else { return [] }
        defer { closedir(proc) }
        var found: Set<pid_t> = []
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = pid_t(name), let stat = parseStat(pid) else { continue }
            if stat.ppid == parent && stat.state != "Z" { found.insert(pid) }
        }
        return found
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
