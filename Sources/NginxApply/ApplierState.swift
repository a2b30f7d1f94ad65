import Glibc
import Logging

/// The applier's state directory and the files it leaves beside the site: where they are, whether they can
/// be written (`ipsyncd check`), and the clean-up of an earlier run's leftovers.
extension Applier {
    /// For `ipsyncd check`: why an apply could not create or write the state directory (nil when it can),
    /// found by creating and removing a dot file where the apply would create its first file or directory.
    public func stateDirectoryProblem() -> String? {
        let path = options.stateDir
        var existing = path
        while !FileSystem.exists(existing) {
            let parent = FileSystem.directory(of: existing)
            if parent == existing { break }
            existing = parent
        }
        var info = stat()
        guard stat(existing, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            return "\(existing) is not a directory, so \(path) cannot be \(existing == path ? "used" : "created"); "
                + "set state_dir to a directory ipsyncd may create and write (such as /var/lib/ipsyncd)"
        }
        let probe = FileSystem.stagingPath(beside: existing + "/check")
        do {
            try FileSystem.create(probe, [], mode: 0o600)
            FileSystem.remove(probe)
        } catch {
            let what = existing == path ? "\(path) is not writable" : "\(path) cannot be created in \(existing)"
            return "\(what) (\(FileSystem.describe(error.errno))); make it writable by ipsyncd (a read-only mount? "
                + "systemd's ReadWritePaths= or StateDirectory=) or set state_dir"
        }
        return nil
    }


    func lastGoodPath(_ target: String) -> String {
        options.stateDir + "/last-good/" + FileSystem.baseName(of: target)
    }

    func pidFile(main: Staging.MainConfig?) -> String {
        options.pidFile ?? main?.pidFile ?? "/run/nginx.pid"
    }

    func removeIntentNote() {
        do { try IntentNote.remove(stateDir: options.stateDir) } catch {
            logger.warning("cannot remove the intent note: \(error)")
        }
    }

    /// `.*.ipsyncd-*` beside the site (link and target), beside the main config, and in the state directory.
    /// Returns what was removed, and a message for each name that was not (left alone, with what to do).
    func removeLeftovers() -> (removed: [String], notRemoved: [String]) {
        var directories = [FileSystem.directory(of: options.sitePath), FileSystem.directory(of: options.nginxConf),
                           options.stateDir, options.stateDir + "/last-good"]
        if let target = try? FileSystem.resolve(options.sitePath) { directories.append(FileSystem.directory(of: target)) }
        var seen: Set<String> = []
        var removed: [String] = [], notRemoved: [String] = []
        for directory in directories where seen.insert((try? FileSystem.resolve(directory)) ?? directory).inserted {
            for path in FileSystem.stagingLeftovers(in: directory) {
                do {
                    try FileSystem.removeFile(path)
                    removed.append(path)
                } catch where error.errno == EISDIR {
                    notRemoved.append("\(path) is a directory with the name of a file ipsyncd stages (ipsyncd never creates "
                                      + "directories there); it was left alone: remove it (rm -r) once you know nothing needs it")
                } catch {
                    notRemoved.append("cannot remove \(path), left by an earlier run: \(error); remove it by hand")
                }
            }
        }
        return (removed, notRemoved)
    }
}
