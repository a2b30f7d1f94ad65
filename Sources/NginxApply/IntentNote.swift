import Glibc
import Posix

/// `stateDir/pending-reload`: written (and fsynced) before the swap, removed after the confirmed
/// reload. While it exists, the live file may hold bytes nginx has not loaded, so the next attempt
/// or the next start reloads (docs/design.md §6 step 9).
struct IntentNote: Equatable {
    enum Phase: String {
        /// The new bytes passed the check (staged, or fallback after the check): reload them.
        case checked
        /// Fallback swap before its check finished: the bytes are unchecked; restore the last good copy.
        case unchecked
    }

    var site: String
    var byteCount: Int
    var phase: Phase
    var time: Int

    static func path(stateDir: String) -> String { stateDir + "/pending-reload" }

    func write(stateDir: String) throws(FileError) {
        let text = "site=\(site)\nbytes=\(byteCount)\nphase=\(phase.rawValue)\ntime=\(time)\n"
        try FileSystem.replace(Self.path(stateDir: stateDir), with: Array(text.utf8), mode: 0o600, owner: nil)
    }

    static func read(stateDir: String) -> IntentNote? {
        guard let bytes = try? FileSystem.read(path(stateDir: stateDir)) else { return nil }
        var fields: [Substring: Substring] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[line[..<equals]] = line[line.index(after: equals)...]
        }
        // A note that cannot be read back still means "reload": the swap may have happened.
        return IntentNote(site: fields["site"].map(String.init) ?? "",
                          byteCount: fields["bytes"].flatMap { Int($0) } ?? -1,
                          phase: fields["phase"].flatMap { Phase(rawValue: String($0)) } ?? .checked,
                          time: fields["time"].flatMap { Int($0) } ?? 0)
    }

    static func remove(stateDir: String) throws(FileError) {
        let path = path(stateDir: stateDir)
        // No fsync: a removal lost to a power cut brings the note back, and the next start reloads once more.
        guard unlink(path) == 0 || errno == ENOENT else { throw FileError(operation: "unlink", path: path, errno: errno) }
    }

    static func now() -> Int { Posix.epochSeconds() }
}
