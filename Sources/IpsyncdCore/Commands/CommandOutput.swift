/// What a one-shot command prints and its exit code; only `main` prints and exits.
public struct CommandOutput: Sendable, Equatable {
    public var stdout: [UInt8]
    public var stderr: String
    public var exitCode: Int32

    public init(stdout: [UInt8] = [], stderr: String = "", exitCode: Int32) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitCode = exitCode
    }

    static func failure(_ message: String) -> CommandOutput {
        CommandOutput(stderr: "ipsyncd: \(message)\n", exitCode: 1)
    }
}

public enum IpsyncdVersion {
    public static let string = "0.1.0"
}
