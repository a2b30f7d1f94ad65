import Foundation
import Logging
import NginxApply
import TestSupport

/// Shared by the Apply*Tests suites.
enum ApplyFixture {
    static let logger = Logger(label: "ipsyncd.test.apply", factory: { _ in SwiftLogNoOpLogHandler() })

    static func applier(_ sandbox: NginxSandbox, stateDir: String, checkCommand: String? = nil,
                        reloadCommand: String? = nil, timeout: Duration = .seconds(10)) -> Applier {
        Applier(options: ApplyOptions(sitePath: sandbox.sitePath, nginxConf: sandbox.confPath,
                                      checkCommand: checkCommand ?? sandbox.checkCommand,
                                      reloadCommand: reloadCommand ?? sandbox.reloadCommand,
                                      commandTimeout: timeout, stateDir: stateDir, pidFile: nil),
                logger: logger)
    }

    /// Files ipsyncd may create beside the site and the main config (`.*.ipsyncd-*`).
    static func stagingLeftovers(_ sandbox: NginxSandbox) -> [String] {
        [sandbox.prefix, sandbox.dir.file("sites-available"), sandbox.dir.file("sites-enabled")].flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
                .filter { $0.hasPrefix(".") && $0.contains(".ipsyncd-") }
                .map { dir + "/" + $0 }
        }
    }

    static func isSymlink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
}
