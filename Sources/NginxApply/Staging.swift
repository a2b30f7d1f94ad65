import Glibc
import NginxConf

/// Builds the staged main config (docs/design.md §6 step 4): a copy of the main config in which every
/// `include` that loads the site file loads the candidate instead. A glob include becomes the
/// explicit list of files it matched, in nginx's order, with the candidate in the site's place.
///
/// Only the main config's own includes are examined: a site loaded from a file that the main
/// config includes in turn (a second level) is not found, and apply falls back to swap, check,
/// restore. Debian's layout (`include /etc/nginx/sites-enabled/*;` in nginx.conf) is one level.
package enum Staging {
    /// The main config parsed, for the staging plan and the `pid` directive.
    package struct MainConfig {
        var path: String
        var bytes: [UInt8]
        package var file: ConfigFile

        package static func load(_ given: String) throws(ApplyError) -> MainConfig {
            let path = FileSystem.absolute(given)
            let bytes: [UInt8]
            do { bytes = try FileSystem.read(path) } catch {
                throw ApplyError(code: .stageFailed, message: "cannot read the main nginx config: \(error); set nginx_conf to nginx's main config file")
            }
            do {
                return MainConfig(path: path, bytes: bytes, file: try ConfigFile.parse(bytes, path: path))
            } catch {
                throw ApplyError(code: .stageFailed, message: "cannot parse the main nginx config to stage the check: \(error)")
            }
        }

        /// nginx resolves relative include paths against the conf prefix: the directory of `-c`'s file.
        package var directory: String { FileSystem.directory(of: path) }

        /// The last `pid` directive's path. nginx resolves a relative one against its prefix (`-p`),
        /// which ipsyncd cannot know; it is taken relative to the config's directory here (set the
        /// pid file explicitly in that case).
        var pidFile: String? {
            guard let value = file.directives(named: "pid").last?.arguments.first?.value else { return nil }
            return value.hasPrefix("/") ? value : directory + "/" + value
        }
    }

    static func plan(main: MainConfig, siteTarget: String) -> StagingPlan {
        var includes: [StagingPlan.Include] = []
        for directive in main.file.includes() {
            guard let pattern = directive.arguments.first?.value else { continue }
            let files = expand(pattern, relativeTo: main.directory)
            guard let siteIndex = files.firstIndex(where: { (try? FileSystem.resolve($0)) == siteTarget }) else { continue }
            includes.append(StagingPlan.Include(line: directive.line, pattern: pattern, files: files,
                                                siteIndex: siteIndex, byteRange: directive.byteRange))
        }
        let name = FileSystem.baseName(of: main.path)
        let summary: String
        if includes.isEmpty {
            summary = "no include in \(main.path) loads \(siteTarget) (only the main config's own includes are examined); "
                + "apply will fall back to swap, check, restore"
        } else {
            summary = includes.map { include in
                "\(name):\(include.line) `include \(include.pattern);` loads the site"
                    + (include.files.count > 1 ? " (file \(include.siteIndex + 1) of \(include.files.count))" : "")
            }.joined(separator: "; ") + "; the staged check loads the candidate there instead"
        }
        return StagingPlan(nginxConf: main.path, siteTarget: siteTarget, includes: includes, summary: summary)
    }

    /// The staged config's bytes: each planned include's exact byte range replaced by explicit
    /// includes, kept on the directive's own line so that nginx's line numbers still match.
    static func stagedConfig(main: MainConfig, plan: StagingPlan, candidate: String) -> [UInt8] {
        var bytes = main.bytes
        for include in plan.includes.sorted(by: { $0.byteRange.lowerBound > $1.byteRange.lowerBound }) {
            var files = include.files
            files[include.siteIndex] = candidate
            let text = files.map { "include \(nginxQuote($0));" }.joined(separator: " ")
            bytes.replaceSubrange(include.byteRange, with: Array(text.utf8))
        }
        return bytes
    }

    /// What nginx's include opens for `pattern`: glob(3) with flags 0, as `ngx_open_glob` calls it
    /// (sorted; `*` never matches a dot file), or the one file when there is no glob character.
    package static func expand(_ pattern: String, relativeTo directory: String) -> [String] {
        let path = pattern.hasPrefix("/") ? pattern : directory + "/" + pattern
        guard path.contains(where: { "*?[".contains($0) }) else { return [path] }
        var matches = glob_t()
        defer { globfree(&matches) }
        guard glob(path, 0, nil, &matches) == 0 else { return [] }
        return (0..<Int(matches.gl_pathc)).compactMap { index in
            matches.gl_pathv[index].map { String(cString: $0) }
        }
    }

    /// A double-quoted nginx word (nginx's lexer resolves `\"` and `\\` inside quotes).
    static func nginxQuote(_ path: String) -> String {
        "\"" + path.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
