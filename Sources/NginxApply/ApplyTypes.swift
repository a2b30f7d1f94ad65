/// Where the applier works and which commands it runs (docs/design.md §4 keys `site`, `nginx_conf`,
/// `check_command`, `reload_command`, `command_timeout`, `state_dir`).
public struct ApplyOptions: Sendable {
    /// May be a symlink (sites-enabled → sites-available): it stays one; its target is rewritten.
    package var sitePath: String
    /// The main config the staged check is built from.
    package var nginxConf: String
    /// Shell command; `{config}` becomes the staged main config's path, shell-quoted.
    package var checkCommand: String
    /// Shell command.
    package var reloadCommand: String
    /// For each command, for the lock wait and for the reload confirmation.
    package var commandTimeout: Duration
    /// Holds the lock, the last good copy and the intent note.
    package var stateDir: String
    /// nginx's master pid file; nil → the main config's `pid` directive, else /run/nginx.pid.
    package var pidFile: String?

    public init(sitePath: String, nginxConf: String, checkCommand: String, reloadCommand: String,
                commandTimeout: Duration, stateDir: String, pidFile: String? = nil) {
        self.sitePath = sitePath
        self.nginxConf = nginxConf
        self.checkCommand = checkCommand
        self.reloadCommand = reloadCommand
        self.commandTimeout = commandTimeout
        self.stateDir = stateDir
        self.pidFile = pidFile
    }
}

/// What one successful apply did.
public struct ApplyReport: Sendable {
    /// false: no include of the main config loads the site, so the swap-check-restore fallback ran.
    package var stagedCheck: Bool
    public var checkDuration: Duration
    public var reloadDuration: Duration
    /// nginx started new workers after the reload.
    public var confirmed: Bool
    /// The check command's own output (nginx -t prints "syntax is ok" lines).
    package var checkOutput: String
}

/// What `recoverAtStartup()` found and did.
public struct RecoveryReport: Sendable {
    /// Staged and temporary files an earlier run left behind, now removed.
    public var removedLeftovers: [String]
    /// Names of ipsyncd's kind (`.*.ipsyncd-*`) that could not be removed (a directory, say): what was
    /// found and what to do, one message each (also logged as warnings).
    package var leftoversNotRemoved: [String] = []
    /// An intent note was found and nginx was reloaded (and confirmed) for it.
    public var reloaded: Bool
    /// A fallback swap whose check never finished was undone (the last good bytes put back).
    public var restored: Bool
}

/// How the staged check is built: which includes of the main config load the site file.
public struct StagingPlan: Sendable {
    package struct Include: Sendable {
        /// 1-based line of the `include` in the main config.
        package var line: Int
        /// The include's argument as written, e.g. `sites-enabled/*`.
        package var pattern: String
        /// Every file it loads, in nginx's order (resolved, as nginx opens them).
        package var files: [String]
        /// Which of `files` is the site (replaced by the candidate in the staged copy).
        package var siteIndex: Int
        /// The directive's bytes in the main config, `include` to `;`.
        var byteRange: Range<Int>
    }

    package var nginxConf: String
    /// The site file's resolved path (the symlink's target).
    package var siteTarget: String
    /// Empty: nothing loads the site, and apply falls back to swap, check, restore.
    package var includes: [Include]
    /// One line for humans: which include loads the site, or why none does.
    public var summary: String

    public var isStaged: Bool { !includes.isEmpty }
}
