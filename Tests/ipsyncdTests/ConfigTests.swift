@testable import IpsyncdCore
import Logging
import NginxApply
import Testing
import TestSupport

@Suite struct ConfigTests {
    // MARK: defaults and keys

    @Test func defaultsAreTheFlowmasterSetup() throws {
        let settings = try Settings.load(configPath: nil, overrides: .init(), defaultConfigPath: "/nonexistent/ipsyncd.yaml")
        #expect(settings.configFile == nil)
        #expect(settings.namespace == "flowmaster")
        #expect(settings.site == "/etc/nginx/sites-enabled/flowmaster")
        #expect(settings.nginxConf == "/etc/nginx/nginx.conf")
        #expect(settings.routes.map(\.description) == ["/=frontend-nextjs", "/api/=api-gateway", "/ws/=websocket-gateway"])
        #expect(settings.template == nil && settings.kubeconfig == nil && settings.context == nil && settings.metricsFile == nil)
        #expect(settings.checkCommand == "nginx -t -c {config}")
        #expect(settings.reloadCommand == "systemctl reload --job-mode=ignore-dependencies nginx")
        #expect(settings.settle == .milliseconds(50))
        #expect(settings.minReloadInterval == .seconds(1))
        #expect(settings.resyncInterval == .seconds(300))
        #expect(settings.logFormat == .auto)
        #expect(settings.logLevel == .info)
        #expect(settings.commandTimeout == .seconds(30))
        #expect(settings.stateDir == "/var/lib/ipsyncd")
    }

    @Test func everyKeyIsReadFromTheFile() throws {
        let path = fixturePath("config/full.yaml")
        let settings = try Settings.load(configPath: path, overrides: .init())
        #expect(settings.configFile == path)
        #expect(settings.kubeconfig == "/etc/rancher/k3s/k3s.yaml")
        #expect(settings.context == "dev-01")
        #expect(settings.namespace == "shop")
        #expect(settings.site == "/etc/nginx/sites-enabled/shop")
        #expect(settings.nginxConf == "/etc/nginx/nginx-test.conf")
        #expect(settings.routes == [Route(location: "/", service: "web"),
                                    Route(location: "/api/", service: "api", port: .number(9000)),
                                    Route(location: "/ws/", service: "ws", port: .name("http-ws"))])
        #expect(settings.template == "/etc/ipsyncd/shop.conf.tmpl")
        #expect(settings.checkCommand == "/usr/sbin/nginx -t -q -c {config}")
        #expect(settings.reloadCommand == "/usr/sbin/nginx -s reload")
        #expect(settings.settle == .milliseconds(100))
        #expect(settings.minReloadInterval == .seconds(2))
        #expect(settings.resyncInterval == .seconds(90))
        #expect(settings.logFormat == .json)
        #expect(settings.logLevel == .debug)
        #expect(settings.commandTimeout == .seconds(10))
        #expect(settings.stateDir == "/var/lib/ipsyncd-shop")
        #expect(settings.metricsFile == "/var/lib/node_exporter/ipsyncd.prom")
    }

    @Test func theDefaultConfigFileIsReadWhenItExists() throws {
        let dir = try TempDir()
        let path = try dir.write("ipsyncd.yaml", "namespace: shop\n")
        let settings = try Settings.load(configPath: nil, overrides: .init(), defaultConfigPath: path)
        #expect(settings.configFile == path)
        #expect(settings.namespace == "shop")
    }

    @Test func anEmptyFileGivesTheDefaults() throws {
        let layer = try SettingsFileParser.parse(yaml: "# nothing yet\n", source: "x.yaml")
        var settings = Settings()
        try settings.apply(layer)
        #expect(settings.routes == Route.defaults)
    }

    // MARK: precedence

    @Test func aFlagWinsOverTheFileAndTheFileOverTheDefault() throws {
        var flags = SettingsOverrides()
        flags["namespace"] = "flagged"
        flags["settle"] = "1s"
        flags.routes = ["/api/=api-gateway:9000"]
        let settings = try Settings.load(configPath: fixturePath("config/full.yaml"), overrides: flags)
        #expect(settings.namespace == "flagged")                       // flag > file
        #expect(settings.settle == .seconds(1))
        #expect(settings.routes == [Route(location: "/api/", service: "api-gateway", port: .number(9000))])
        #expect(settings.context == "dev-01")                          // file > default
        #expect(settings.overrides == flags)
        let again = try settings.reloaded()
        #expect(again.namespace == "flagged" && again.context == "dev-01")
    }

    @Test func everyFlagIsApplied() throws {
        var flags = SettingsOverrides()
        flags["kubeconfig"] = "/k"; flags["context"] = "c"; flags["namespace"] = "n"; flags["site"] = "/s"
        flags["nginx_conf"] = "/m"; flags["template"] = "/t"; flags["check_command"] = "true {config}"
        flags["reload_command"] = "true"; flags["settle"] = "0"; flags["min_reload_interval"] = "0"
        flags["resync_interval"] = "1h"; flags["log_format"] = "text"; flags["log_level"] = "trace"
        flags["command_timeout"] = "2s"; flags["state_dir"] = "/st"; flags["metrics_file"] = "/me"
        let s = try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent")
        #expect([s.kubeconfig, s.context, s.namespace, s.site, s.nginxConf, s.template, s.checkCommand,
                 s.reloadCommand, s.stateDir, s.metricsFile]
                == ["/k", "c", "n", "/s", "/m", "/t", "true {config}", "true", "/st", "/me"])
        #expect(s.settle == .zero && s.minReloadInterval == .zero && s.resyncInterval == .seconds(3600))
        #expect(s.logFormat == .text && s.logLevel == .trace && s.commandTimeout == .seconds(2))
    }

    // MARK: pure parsing

    @Test(arguments: [("50ms", Duration.milliseconds(50)), ("1s", .seconds(1)), ("5m", .seconds(300)),
                      ("1h", .seconds(3600)), ("1m30s", .seconds(90)), ("0", .zero), ("1.5s", .milliseconds(1500)),
                      ("2h0m5s", .seconds(7205))])
    func durationsParse(text: String, expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: ["", "5", "1d", "ms", "-1s", "1s ", " 1s", "1.s", ".5s", "1..5s", "1S", "1e3s", "99999999999h"])
    func badDurationsAreRefused(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationsFormatBack() {
        for text in ["50ms", "1s", "5m", "1h", "1m30s", "0", "1h1m1s1ms"] {
            #expect(DurationText.format(DurationText.parse(text)!) == text)
        }
    }

    @Test func routeFlagsParse() throws {
        #expect(try Route.parse("/=frontend-nextjs").get() == Route(location: "/", service: "frontend-nextjs"))
        #expect(try Route.parse("/api/=api-gateway:9000").get() == Route(location: "/api/", service: "api-gateway", port: .number(9000)))
        #expect(try Route.parse("/ws/=websocket-gateway:ws").get() == Route(location: "/ws/", service: "websocket-gateway", port: .name("ws")))
    }

    @Test(arguments: [
        ("api=api-gateway", "must start with '/'"),
        ("/api/", "has no '='"),
        ("/api/=", "is not a Service name"),
        ("/api/=Api_Gateway", "is not a Service name"),
        ("/api/=api-gateway:0", "out of range"),
        ("/api/=api-gateway:70000", "out of range"),
        ("/api/=api-gateway:", "neither a number"),
        ("/api/=api-gateway:HTTP", "neither a number"),
        ("/a b/=api", "must be one nginx word"),
        ("/a;/=api", "must be one nginx word"),
    ])
    func badRouteFlagsSayWhy(text: String, expected: String) {
        guard case .failure(let error) = Route.parse(text) else {
            Issue.record("\(text) parsed"); return
        }
        #expect(error.message.contains(expected), "\(error.message)")
    }

    // MARK: errors

    private func fileError(_ yaml: String) -> ConfigError? {
        do { _ = try SettingsFileParser.parse(yaml: yaml, source: "/etc/ipsyncd/ipsyncd.yaml"); return nil } catch {
            return error
        }
    }

    @Test func anUnknownKeyIsNamedWithTheKnownOnes() throws {
        let error = try #require(fileError("namespace: a\nsetle: 50ms\n"))
        #expect(error.code == .unknownKey)
        #expect(error.key == "setle" && error.line == 2)
        #expect(error.description.hasPrefix("/etc/ipsyncd/ipsyncd.yaml:2: setle: unknown key; known keys: kubeconfig"))
        #expect(error.description.contains("settle"))
    }

    @Test(arguments: [
        ("settle: 5\n", ConfigError.Code.wrongType, "settle", "5 has no unit; use a number with ms, s, m or h"),
        ("settle: fast\n", .badValue, "settle", "\"fast\" is not a duration"),
        ("resync_interval: 0\n", .badValue, "resync_interval", "must be more than 0"),
        ("command_timeout: 0s\n", .badValue, "command_timeout", "must be more than 0"),
        ("site: [a, b]\n", .wrongType, "site", "expected a single value (text), found a list"),
        ("site:\n", .wrongType, "site", "found nothing (null)"),
        ("namespace: {a: 1}\n", .wrongType, "namespace", "found a mapping"),
        ("namespace: Flow_Master\n", .badValue, "namespace", "is not a namespace name"),
        ("log_format: xml\n", .badValue, "log_format", "use one of auto, journal, text, json"),
        ("log_level: verbose\n", .badValue, "log_level", "use one of trace, debug, info, notice, warning, error, critical"),
        ("check_command: ''\n", .badValue, "check_command", "must not be empty"),
        ("routes: /api/=api\n", .wrongType, "routes", "expected a list of {location, service, port}"),
        ("routes: []\n", .noRoutes, "routes", "the list is empty"),
        ("routes:\n  - /api/=api\n", .wrongType, "routes[0]", "expected {location, service, port}"),
        ("routes:\n  - {location: api, service: a}\n", .badValue, "routes[0].location", "must start with '/'"),
        ("routes:\n  - {location: /api/}\n", .badValue, "routes[0].service", "missing"),
        ("routes:\n  - {service: a}\n", .badValue, "routes[0].location", "missing"),
        ("routes:\n  - {location: /, service: a, port: 0}\n", .badValue, "routes[0].port", "out of range"),
        ("routes:\n  - {location: /, service: a, prot: 80}\n", .unknownKey, "routes[0].prot", "a route has location, service"),
        ("routes:\n  - {location: /, service: a}\n  - {location: /, service: b}\n", .duplicateRoute, "routes",
         "location \"/\" has two routes (/=a and /=b)"),
    ])
    func badValuesNameTheKeyAndWhatIsAllowed(yaml: String, code: ConfigError.Code, key: String, message: String) throws {
        let error = try #require(fileError(yaml))
        #expect(error.code == code)
        #expect(error.key == key)
        #expect(error.source == "/etc/ipsyncd/ipsyncd.yaml")
        #expect(error.line > 0)
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func invalidYAMLAndANonMappingAreErrors() throws {
        let bad = try #require(fileError("routes: [\n"))
        #expect(bad.code == .invalidYAML && bad.description.contains("is not valid YAML"))
        let list = try #require(fileError("- a\n- b\n"))
        #expect(list.code == .notAMapping && list.message.contains("known keys"))
    }

    @Test func aMissingOrUnreadableConfigFileIsAnError() throws {
        let dir = try TempDir()
        #expect(throws: ConfigError.self) { try Settings.load(configPath: dir.file("nope.yaml"), overrides: .init()) }
        do { _ = try Settings.load(configPath: dir.file("nope.yaml"), overrides: .init()) } catch {
            #expect(error.code == .fileNotFound && error.message.contains("does not exist"))
        }
        do { _ = try Settings.load(configPath: dir.path, overrides: .init()) } catch {   // a directory
            #expect(error.code == .unreadable && error.message.contains("cannot read"))
        }
    }

    @Test(arguments: [
        ("settle", "--settle", "soon", "\"soon\" is not a duration"),
        ("resync_interval", "--resync-interval", "0", "must be more than 0"),
        ("command_timeout", "--command-timeout", "1x", "is not a duration"),
        ("min_reload_interval", "--min-reload-interval", "", "is not a duration"),
        ("log_format", "--log-format", "xml", "use one of auto, journal"),
        ("log_level", "--log-level", "loud", "use one of trace"),
        ("namespace", "--namespace", "A", "is not a namespace name"),
        ("site", "--site", "", "must not be empty"),
    ])
    func badFlagsNameTheFlag(key: String, flag: String, value: String, message: String) {
        var flags = SettingsOverrides()
        flags[key] = value
        do {
            _ = try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent")
            Issue.record("\(flag) \(value) accepted")
        } catch {
            #expect(error.source == "command line" && error.key == flag)
            #expect(error.description.hasPrefix("command line: \(flag): "))
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func badAndDuplicateRouteFlagsAreErrors() {
        var flags = SettingsOverrides()
        flags.routes = ["/api/=a", "/api/=b"]
        do { _ = try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent"); Issue.record("accepted") } catch {
            #expect(error.code == .duplicateRoute && error.key == "--route")
        }
        flags.routes = ["api=a"]
        do { _ = try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent"); Issue.record("accepted") } catch {
            #expect(error.code == .badValue && error.key == "--route" && error.message.contains("must start with '/'"))
        }
    }

    @Test func nullOptionalKeysMeanNone() throws {
        let layer = try SettingsFileParser.parse(yaml: "template: null\nmetrics_file: ~\n", source: "x")
        #expect(!layer.has("template") && !layer.has("metrics_file"))
    }

    /// The installed example config (packaging/ipsyncd.yaml) parses, commented and uncommented, to the defaults.
    @Test func thePackagedExampleConfigMatchesTheDefaults() throws {
        let path = repositoryRoot.appendingPathComponent("packaging/ipsyncd.yaml").path
        let text = String(decoding: try readBytes(path), as: UTF8.self)
        let commented = try Settings.load(configPath: path, overrides: .init())
        #expect(commented.routes == Route.defaults && commented.namespace == "flowmaster")
        // "#key: value" and "#  - item" are settings; "# prose" is not.
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("#") && line != "#" && (!line.hasPrefix("# ") || line.hasPrefix("#  ")) ? line.dropFirst() : line
        }.joined(separator: "\n")
        let dir = try TempDir()
        let settings = try Settings.load(configPath: try dir.write("ipsyncd.yaml", String(uncommented)), overrides: .init())
        let defaults = Settings()
        #expect(settings.kubeconfig != nil && settings.template != nil && settings.metricsFile != nil)
        #expect(settings.routes == defaults.routes && settings.namespace == defaults.namespace)
        #expect(settings.site == defaults.site && settings.nginxConf == defaults.nginxConf)
        #expect(settings.checkCommand == defaults.checkCommand && settings.reloadCommand == defaults.reloadCommand)
        #expect(settings.settle == defaults.settle && settings.minReloadInterval == defaults.minReloadInterval)
        #expect(settings.resyncInterval == defaults.resyncInterval && settings.commandTimeout == defaults.commandTimeout)
        #expect(settings.logFormat == defaults.logFormat && settings.logLevel == defaults.logLevel)
        #expect(settings.stateDir == defaults.stateDir)
    }
}
