import Foundation
import Testing
import TestSupport
@testable import IpsyncdCore

/// The unit, the installer and the example config: what `make install` puts on a machine.
@Suite struct DaemonPackagingTests {
    let root = repositoryRoot.path

    @Test func exampleConfigParsesToTheDefaults() throws {
        let settings = try Settings.load(configPath: "\(root)/packaging/ipsyncd.yaml", overrides: SettingsOverrides())
        let defaults = Settings()
        #expect(settings.routes == defaults.routes)
        #expect(settings.site == defaults.site)
        #expect(settings.settle == defaults.settle)
        #expect(settings.metricsFile == nil)
    }

    @Test func everyCommentedKeyIsValidWhenUncommented() throws {
        let text = try String(contentsOfFile: "\(root)/packaging/ipsyncd.yaml", encoding: .utf8)
        // `#key: value` and `#  - location: /` lines are settings; `# Prose` lines stay comments.
        let pattern = try NSRegularExpression(pattern: #"^#((\s*- )?\s*[a-z_]+:( .*)?)$"#,
                                              options: .anchorsMatchLines)
        let uncommented = pattern.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text),
                                                           withTemplate: "$1")
        #expect(uncommented != text)
        let dir = try TempDir()
        let path = try dir.write("ipsyncd.yaml", uncommented)
        let settings = try Settings.load(configPath: path, overrides: SettingsOverrides())
        let defaults = Settings()
        #expect(settings.routes == defaults.routes)
        #expect(settings.namespace == defaults.namespace)
        #expect(settings.checkCommand == defaults.checkCommand)
        #expect(settings.resyncInterval == defaults.resyncInterval)
        #expect(settings.kubeconfig == "/etc/rancher/k3s/k3s.yaml")
        #expect(settings.metricsFile != nil)
    }

    @Test func installIntoDestdirKeepsAnExistingConfig() async throws {
        try await blocking {
            let dir = try TempDir()
            let stage = dir.file("stage")
            let binary = try dir.write("ipsyncd", "#!/bin/sh\nexit 0\n")
            chmod(binary, 0o755)
            let environment = ProcessInfo.processInfo.environment.merging(
                ["DESTDIR": stage, "BINARY": binary, "PREFIX": "/usr"]) { _, new in new }
            let first = try runProcess("\(root)/scripts/install.sh", [], environment: environment)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(FileManager.default.isExecutableFile(atPath: "\(stage)/usr/bin/ipsyncd"))
            let unit = try String(contentsOfFile: "\(stage)/etc/systemd/system/ipsyncd.service", encoding: .utf8)
            #expect(unit.contains("ExecStart=/usr/bin/ipsyncd run"))
            let template = try String(contentsOfFile: "\(stage)/etc/systemd/system/ipsyncd@.service", encoding: .utf8)
            #expect(template.contains("ExecStart=/usr/bin/ipsyncd run --config /etc/ipsyncd/%i.yaml"))
            let config = "\(stage)/etc/ipsyncd/ipsyncd.yaml"
            #expect(try readBytes(config) == readBytes("\(root)/packaging/ipsyncd.yaml"))

            try Data("namespace: edited\n".utf8).write(to: URL(fileURLWithPath: config))
            let second = try runProcess("\(root)/scripts/install.sh", [], environment: environment)
            #expect(second.status == 0)
            #expect(second.stdout.contains("kept"))
            #expect(try String(contentsOfFile: config, encoding: .utf8) == "namespace: edited\n")
        }
    }

    @Test func unitHasTheContractedSettingsAndVerifies() async throws {
        try await blocking {
            let unit = try String(contentsOfFile: "\(root)/systemd/ipsyncd.service", encoding: .utf8)
            for line in ["Type=notify", "ExecStart=/usr/local/bin/ipsyncd run", "ExecReload=/bin/kill -HUP $MAINPID",
                         "Restart=on-failure", "WatchdogSec=30", "NotifyAccess=main", "ProtectSystem=strict",
                         "NoNewPrivileges=yes", "StateDirectory=ipsyncd", "SystemCallFilter=@system-service",
                         "KillMode=mixed", "RestartPreventExitStatus=78",
                         "CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_NET_BIND_SERVICE CAP_SYS_NICE",
                         "ReadWritePaths=-/var/lib/prometheus/node-exporter"] {
                #expect(unit.split(separator: "\n").contains { $0 == line[...] }, "\(line)")
            }
            try Self.verify(unit, named: "ipsyncd.service")
        }
    }

    @Test func theTemplateUnitIsTheUnitWithItsOwnConfigAndStateDirectory() async throws {
        try await blocking {
            let unit = try String(contentsOfFile: "\(root)/systemd/ipsyncd.service", encoding: .utf8)
            let template = try String(contentsOfFile: "\(root)/systemd/ipsyncd@.service", encoding: .utf8)
            let settings = { (text: String) in text.split(separator: "\n").filter { !$0.hasPrefix("#") } }
            let differences = settings(template).difference(from: settings(unit))
            let added = differences.insertions.map { change -> String in
                if case .insert(_, let line, _) = change { return String(line) }
                return ""
            }
            #expect(added.sorted() == [
                "Description=ipsyncd for %i: nginx proxy targets follow Kubernetes Service ClusterIPs",
                "ExecStart=/usr/local/bin/ipsyncd run --config /etc/ipsyncd/%i.yaml --state-dir /var/lib/ipsyncd/%i",
                "StateDirectory=ipsyncd/%i",
            ])
            #expect(differences.removals.count == 3)
            try Self.verify(template, named: "ipsyncd@site.service")
        }
    }

    /// `systemd-analyze verify` on the unit's text (skipped where systemd-analyze is missing); verify needs
    /// ExecStart to exist, so it points at a file that does.
    static func verify(_ unit: String, named name: String) throws {
        guard let analyze = findExecutable("systemd-analyze") else { return }
        let dir = try TempDir()
        let binary = try dir.write("ipsyncd", "#!/bin/sh\n")
        chmod(binary, 0o755)
        let copy = try dir.write(name, unit.replacingOccurrences(of: "/usr/local/bin/ipsyncd", with: binary))
        let result = try runProcess(analyze, ["verify", copy])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }
}
