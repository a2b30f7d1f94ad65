import Foundation
import Testing
import TestSupport
@testable import K8sWatch

/// A kubeconfig whose user runs `plugin.sh` (written beside it) and the credentials loaded from it.
struct ExecFixture {
    let dir: TempDir
    let counter: String

    /// `expiry` is a `date -d` expression ("+1 hour", "-1 minute") or nil for no expirationTimestamp.
    /// `tokens` are handed out in turn (the last one repeats).
    init(expiry: String?, tokens: [String] = ["exec-token"], apiVersion: String = "client.authentication.k8s.io/v1",
         server: String = "https://127.0.0.1:1", extraCluster: String = "", script: String? = nil) throws {
        dir = try TempDir()
        counter = dir.file("runs")
        let stamp = expiry.map { #", \"expirationTimestamp\": \"$(date -u -d '\#($0)' +%Y-%m-%dT%H:%M:%SZ)\""# } ?? ""
        let list = tokens.joined(separator: " ")
        try dir.write("plugin.sh", script ?? """
            #!/bin/sh
            n=$(cat "\(counter)" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "\(counter)"
            set -- \(list); i=1; token=$1
            for t in "$@"; do [ $i -le $n ] && token=$t; i=$((i + 1)); done
            echo "{\\"apiVersion\\": \\"$API\\", \\"kind\\": \\"ExecCredential\\", \\"status\\": {\\"token\\": \\"$token\\"\(stamp)}}"
            """)
        chmod(dir.file("plugin.sh"), 0o755)
        try dir.write("config", """
            clusters: [{name: c, cluster: {server: "\(server)"\(extraCluster)}}]
            users:
            - name: u
              user:
                exec:
                  apiVersion: \(apiVersion)
                  command: ./plugin.sh
                  env: [{name: API, value: \(apiVersion)}]
                  interactiveMode: Never
            contexts: [{name: a, context: {cluster: c, user: u}}]
            current-context: a
            """)
    }

    func credentials() throws -> ClusterCredentials {
        try KubeConfigLoader.load(path: dir.file("config"), context: nil, environment: ["PATH": "/usr/bin:/bin"])
    }

    var runs: Int { Int(ConfigText.trimmedText((try? readBytes(counter)) ?? [])) ?? 0 }
}

@Suite struct ExecPluginTests {
    @Test func tokenIsCachedUntilExpiry() async throws {
        try await blocking {
            let fixture = try ExecFixture(expiry: "+1 hour")
            let plugin = try #require(try fixture.credentials().exec)
            #expect(try plugin.credential().token == "exec-token")
            #expect(try plugin.credential().token == "exec-token")
            #expect(fixture.runs == 1)
            #expect(plugin.runs == 1)
            #expect(try #require(plugin.credential().expiry) > Date())
        }
    }

    @Test func expiredCredentialIsFetchedAgain() async throws {
        try await blocking {
            let fixture = try ExecFixture(expiry: "-1 minute", tokens: ["first", "second"])
            let plugin = try #require(try fixture.credentials().exec)
            #expect(try plugin.credential().token == "first")
            #expect(try plugin.credential().token == "second")
            #expect(fixture.runs == 2)
        }
    }

    @Test func credentialWithoutExpiryIsKeptUntilRefresh() async throws {
        try await blocking {
            let fixture = try ExecFixture(expiry: nil, tokens: ["first", "second"], apiVersion: "client.authentication.k8s.io/v1beta1")
            let plugin = try #require(try fixture.credentials().exec)
            #expect(try plugin.credential().token == "first")
            #expect(try plugin.credential(now: Date() + 86400 * 365).token == "first")
            #expect(try plugin.credential(refresh: true).token == "second")   // what a 401 does
            #expect(fixture.runs == 2)
        }
    }

    @Test func pluginSeesExecInfoAndItsEnvironment() async throws {
        try await blocking {
            let fixture = try ExecFixture(expiry: nil, script: """
                #!/bin/sh
                echo "$KUBERNETES_EXEC_INFO" > "$(dirname "$0")/info"
                echo "{\\"apiVersion\\": \\"$API\\", \\"kind\\": \\"ExecCredential\\", \\"status\\": {\\"token\\": \\"t\\"}}"
                """)
            let plugin = try #require(try fixture.credentials().exec)
            _ = try plugin.credential()
            let info = String(decoding: try readBytes(fixture.dir.file("info")), as: UTF8.self)
            #expect(info.contains(#""kind":"ExecCredential""#))
            #expect(info.contains(#""apiVersion":"client.authentication.k8s.io/v1""#))
            #expect(info.contains(#""interactive":false"#))
        }
    }

    @Test func clientCertificateFromPlugin() async throws {
        try await blocking {
            let fixture = try ExecFixture(expiry: nil, script: """
                #!/bin/sh
                echo '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"clientCertificateData": "CERT", "clientKeyData": "KEY"}}'
                """)
            let credential = try #require(try fixture.credentials().exec).credential()
            #expect(credential.token == nil)
            #expect(credential.clientCertificate == Array("CERT".utf8))
            #expect(credential.clientKey == Array("KEY".utf8))
        }
    }

    @Test func failuresAreExecPluginErrors() async throws {
        try await blocking {
            let failing = try ExecFixture(expiry: nil, script: "#!/bin/sh\necho 'login required: run sso-login' >&2\nexit 3\n")
            let plugin = try #require(try failing.credentials().exec)
            let status = #expect(throws: K8sError.self) { try plugin.credential() }
            #expect(status?.code == .execPlugin)
            #expect(status?.message.contains("failed with status 3: login required: run sso-login") == true)
            #expect(status?.message.contains("user \"u\" in \(failing.dir.file("config"))") == true)

            let garbage = try ExecFixture(expiry: nil, script: "#!/bin/sh\necho not json\n")
            let parse = #expect(throws: K8sError.self) { try #require(try garbage.credentials().exec).credential() }
            #expect(parse?.code == .execPlugin)
            #expect(parse?.message.contains("did not print an ExecCredential") == true)

            let empty = try ExecFixture(expiry: nil, script: """
                #!/bin/sh
                echo '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {}}'
                """)
            let nothing = #expect(throws: K8sError.self) { try #require(try empty.credentials().exec).credential() }
            #expect(nothing?.message.contains("neither a token nor a client certificate") == true)
        }
    }

    @Test func unsupportedVersionAndMissingCommandAreRejectedAtLoad() async throws {
        try await blocking {
            let old = try ExecFixture(expiry: nil, apiVersion: "client.authentication.k8s.io/v1alpha1")
            let version = #expect(throws: K8sError.self) { try old.credentials() }
            #expect(version?.code == .execPlugin)
            #expect(version?.message.contains("v1alpha1") == true)

            let dir = try TempDir()
            let path = try dir.write("config", """
                clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
                users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: no-such-plugin-xyz}}}]
                contexts: [{name: a, context: {cluster: c, user: u}}]
                current-context: a
                """)
            let missing = #expect(throws: K8sError.self) {
                try KubeConfigLoader.load(path: path, context: nil, environment: ["PATH": dir.path])
            }
            #expect(missing?.code == .execPlugin)
            #expect(missing?.message == "exec command \"no-such-plugin-xyz\" of user \"u\" in \(path) is not in PATH (\(dir.path))")
        }
    }
}
