/// What a one-shot command prints and its exit code; only `main` prints and exits.
public struct CommandOutput: Sendable, Equatable {
    public var stdout: [UInt8]
    public var stderr: String
    public var exitCode: Int32

    package init(stdout: [UInt8] = [], stderr: String = "", exitCode: Int32) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitCode = exitCode
    }

    static func failure(_ message: String) -> CommandOutput {
        CommandOutput(stderr: "ipsyncd: \(message)\n", exitCode: 1)
    }
}

/// Exit statuses beyond a command's own 0/1/2, from sysexits.h.
public enum ExitStatus {
    /// EX_CONFIG, for `run`: a configuration error that a restart cannot fix (invalid config file, no usable
    /// kubeconfig). The unit's `RestartPreventExitStatus=78` then stops instead of restarting for ever.
    public static let config: Int32 = 78
}

public enum IpsyncdVersion {
    public static let string = "0.1.0"
}
