import Foundation
import Synchronization
import Posix

/// A client-go exec credential plugin (`client.authentication.k8s.io/v1` and `v1beta1`): runs the
/// command, parses its ExecCredential, and caches it until `expirationTimestamp` (or until a 401).
final class ExecPlugin: Sendable {
    struct Credential: Sendable {
        var token: String?
        var clientCertificate: [UInt8]?
        var clientKey: [UInt8]?
        var expiry: Date?
    }

    static let supportedVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

    /// The command as written in the kubeconfig, for messages.
    let command: String
    let executable: String
    let arguments: [String]
    let environment: [String: String]
    let apiVersion: String
    /// `user "u" in /path`, for messages.
    let origin: String
    /// A hung plugin must not hold a transfer forever.
    let timeout: Duration = .seconds(60)
    private let cache = Mutex<Credential?>(nil)
    private let runCount = Atomic<Int>(0)

    init(_ exec: KubeConfigFile.Exec, origin: String, definedIn file: String, environment: [String: String]) throws(K8sError) {
        self.origin = origin
        guard let apiVersion = exec.apiVersion, Self.supportedVersions.contains(apiVersion) else {
            throw K8sError(code: .execPlugin, message: """
                exec apiVersion "\(exec.apiVersion ?? "")" of \(origin) is not supported; \
                use \(Self.supportedVersions.joined(separator: " or "))
                """)
        }
        guard let command = exec.command, !command.isEmpty else {
            throw K8sError(code: .kubeconfigInvalid, message: "exec of \(origin) has no command")
        }
        self.apiVersion = apiVersion
        self.command = command
        arguments = exec.args ?? []
        var childEnvironment = environment
        for variable in exec.env ?? [] { childEnvironment[variable.name] = variable.value }
        childEnvironment["KUBERNETES_EXEC_INFO"] =
            #"{"apiVersion":"\#(apiVersion)","kind":"ExecCredential","spec":{"interactive":false}}"#
        self.environment = childEnvironment
        if command.contains("/") {
            executable = ConfigText.resolve(command, against: file)
        } else {
            let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            let candidates = path.split(separator: ":").map { "\($0)/\(command)" }
            guard let found = candidates.first(where: { Posix.isExecutable($0) }) else {
                throw K8sError(code: .execPlugin, message: "exec command \"\(command)\" of \(origin) is not in PATH (\(path))")
            }
            executable = found
        }
    }

    /// How often the plugin has run (tests count it; it also shows that the cache works).
    var runs: Int { runCount.load(ordering: .relaxed) }

    /// The cached credential while it is valid, else a fresh one. `refresh` forces a run (after a 401).
    func credential(refresh: Bool = false, now: Date = Date()) throws(K8sError) -> Credential {
        if !refresh, let cached = cache.withLock({ $0 }), cached.expiry.map({ $0 > now }) ?? true {
            return cached
        }
        let fresh = try run()
        cache.withLock { $0 = fresh }
        return fresh
    }

    private func run() throws(K8sError) -> Credential {
        runCount.add(1, ordering: .relaxed)
        let output: (status: Int32, stdout: Data, stderr: Data)
        do {
            output = try launch()
        } catch {
            throw K8sError(code: .execPlugin, message: "exec command \(executable) of \(origin) could not be started: \(error)")
        }
        guard output.status == 0 else {
            let detail = ConfigText.trimmedText(Array(output.stderr.suffix(500)))
            throw K8sError(code: .execPlugin, message: """
                exec command \(executable) of \(origin) failed with status \(output.status)\(detail.isEmpty ? "" : ": \(detail)")
                """)
        }
        return try parse(output.stdout)
    }

    private func launch() throws -> (status: Int32, stdout: Data, stderr: Data) {
        let out = Pipe(), err = Pipe()
        let process = try start { process in
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = environment
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = out
            process.standardError = err
        }
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(Int(timeout.components.seconds)), execute: killer)
        // Both pipes are drained at once so that neither can fill up and block the plugin.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        killer.cancel()
        return (process.terminationStatus, outData, errData)
    }

    /// "Text file busy": a plugin script written a moment ago may still be open in a child that another
    /// thread forked; the window is short, so try again briefly (with a fresh Process each time).
    private func start(_ configure: (Process) -> Void) throws -> Process {
        for attempt in 1... {
            let process = Process()
            configure(process)
            do {
                try process.run()
                return process
            } catch let error as NSError where error.domain == NSPOSIXErrorDomain && error.code == Int(ETXTBSY) && attempt < 20 {
                usleep(10_000)
            }
        }
        fatalError("unreachable")
    }

    private struct ExecCredential: Decodable {
        struct Status: Decodable {
            var token: String?
            var clientCertificateData: String?
            var clientKeyData: String?
            var expirationTimestamp: String?
        }
        var apiVersion: String?
        var kind: String?
        var status: Status?
    }

    private func parse(_ stdout: Data) throws(K8sError) -> Credential {
        let decoded: ExecCredential
        do {
            decoded = try JSONDecoder().decode(ExecCredential.self, from: stdout)
        } catch {
            throw K8sError(code: .execPlugin, message: "exec command \(executable) of \(origin) did not print an ExecCredential JSON object")
        }
        guard decoded.kind == "ExecCredential", decoded.apiVersion == apiVersion else {
            throw K8sError(code: .execPlugin, message: """
                exec command \(executable) of \(origin) printed kind \(decoded.kind ?? "none") \(decoded.apiVersion ?? "") \
                instead of ExecCredential \(apiVersion)
                """)
        }
        let status = decoded.status
        var credential = Credential(token: status?.token.flatMap { $0.isEmpty ? nil : $0 },
                                    clientCertificate: status?.clientCertificateData.map { Array($0.utf8) },
                                    clientKey: status?.clientKeyData.map { Array($0.utf8) })
        if credential.token == nil && credential.clientCertificate == nil {
            throw K8sError(code: .execPlugin, message: "exec command \(executable) of \(origin) returned neither a token nor a client certificate")
        }
        if (credential.clientCertificate == nil) != (credential.clientKey == nil) {
            throw K8sError(code: .execPlugin, message: "exec command \(executable) of \(origin) returned only one of clientCertificateData and clientKeyData")
        }
        if let stamp = status?.expirationTimestamp, !stamp.isEmpty {
            guard let date = Self.parseTimestamp(stamp) else {
                throw K8sError(code: .execPlugin, message: "exec command \(executable) of \(origin) returned an expirationTimestamp that is not RFC 3339: \(stamp)")
            }
            credential.expiry = date
        }
        return credential
    }

    static func parseTimestamp(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
