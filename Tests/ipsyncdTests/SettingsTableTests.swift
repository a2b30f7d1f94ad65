import Foundation
import Testing
import TestSupport
@testable import IpsyncdCore

/// The settings table is the one home of every key: the files generated from it must match it.
@Suite struct SettingsTableTests {
    @Test func thePackagedSampleConfigIsTheOneTheTableGenerates() throws {
        let path = repositoryRoot.appendingPathComponent("packaging/ipsyncd.yaml").path
        let text = String(decoding: try readBytes(path), as: UTF8.self)
        #expect(text == SettingsDocs.sampleFile(), "regenerate: ipsyncd settings-docs sample > packaging/ipsyncd.yaml")
    }

    @Test(arguments: ["README.md", "docs/design.md"])
    func theDocumentedTableIsTheOneTheTableGenerates(file: String) throws {
        let path = repositoryRoot.appendingPathComponent(file).path
        let text = String(decoding: try readBytes(path), as: UTF8.self)
        let expected = SettingsDocs.readmeBegin + "\n" + SettingsDocs.readmeTable() + SettingsDocs.readmeEnd
        #expect(text.contains(expected), "regenerate the table in \(file): ipsyncd settings-docs readme")
    }

    @Test func everyKeyIsInTheTableOnceWithAFlagAndHelp() {
        let keys = SettingsTable.keys
        #expect(Set(keys).count == keys.count)
        for spec in SettingsTable.all {
            #expect(spec.flag.hasPrefix("--") && !spec.help.isEmpty && !spec.defaultText.isEmpty, "\(spec.key)")
            #expect(SettingsDocs.sampleFile().contains("\n#\(spec.key):"), "\(spec.key)")
        }
    }

    @Test func everyDurationHasARangeThatHoldsItsDefault() throws {
        let durations = SettingsTable.all.filter { $0.valueName == "duration" }
        #expect(durations.map(\.key).sorted() == ["command_timeout", "min_reload_interval", "resync_interval", "settle"])
        for spec in durations {
            let range = try #require(spec.range, "\(spec.key)")
            #expect(range.contains(try #require(DurationText.parse(spec.defaultText))), "\(spec.key)")
        }
    }

    private func fileError(_ yaml: String) -> ConfigError? {
        do { _ = try SettingsFileParser.parse(yaml: yaml, source: "/etc/ipsyncd/ipsyncd.yaml"); return nil } catch {
            return error
        }
    }

    /// Values that cannot be meant: each message names the key, the value and the range. Before the ranges,
    /// all of these but the 0s were accepted, and 1000000h said "is not a duration".
    @Test(arguments: [
        ("resync_interval: 1ms\n", "resync_interval", "\"1ms\" is too small; allowed: 1s to 24h"),
        ("resync_interval: 25h\n", "resync_interval", "\"25h\" is too large; allowed: 1s to 24h"),
        ("settle: 1000h\n", "settle", "\"1000h\" is too large; allowed: 0 to 10s"),
        ("settle: 100000h\n", "settle", "\"100000h\" is too large; allowed: 0 to 10s"),
        ("settle: 1000000h\n", "settle", "\"1000000h\" is too large; allowed: 0 to 10s"),
        ("min_reload_interval: 11m\n", "min_reload_interval", "\"11m\" is too large; allowed: 0 to 10m"),
        ("command_timeout: 500ms\n", "command_timeout", "\"500ms\" is too small; allowed: 1s to 10m"),
        ("command_timeout: 0s\n", "command_timeout", "must be more than 0; allowed: 1s to 10m"),
    ])
    func durationsOutsideTheirRangeAreRefused(yaml: String, key: String, message: String) throws {
        let error = try #require(fileError(yaml))
        #expect(error.code == .badValue && error.key == key && error.line == 1)
        #expect(error.message == message)
    }

    @Test func theEdgesOfEachRangeAreAccepted() throws {
        var flags = SettingsOverrides()
        flags["settle"] = "10s"; flags["min_reload_interval"] = "10m"
        flags["resync_interval"] = "1s"; flags["command_timeout"] = "1s"
        let low = try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent")
        #expect(low.settle == .seconds(10) && low.minReloadInterval == .seconds(600))
        #expect(low.resyncInterval == .seconds(1) && low.commandTimeout == .seconds(1))
        flags["settle"] = "0"; flags["min_reload_interval"] = "0"
        flags["resync_interval"] = "24h"; flags["command_timeout"] = "10m"
        let high = try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent")
        #expect(high.settle == .zero && high.resyncInterval == .seconds(86_400) && high.commandTimeout == .seconds(600))
    }

    @Test func aFlagOutsideItsRangeIsAUsageError() {
        var flags = SettingsOverrides()
        flags["resync_interval"] = "1ms"
        do {
            _ = try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent")
            Issue.record("accepted")
        } catch {
            #expect(error.isUsageError && error.key == "--resync-interval")
            #expect(error.message == "\"1ms\" is too small; allowed: 1s to 24h")
        }
    }
}

/// A key given twice points at the second occurrence (the one just added), not the first. Before, the
/// message was Yams's, with the first occurrence's line.
@Suite struct DuplicateKeyTests {
    private func error(_ yaml: String) throws -> ConfigError {
        do { _ = try SettingsFileParser.parse(yaml: yaml, source: "/etc/ipsyncd/ipsyncd.yaml") } catch { return error }
        throw ConfigError(code: .badValue, source: "test", message: "accepted")
    }

    @Test func aTopLevelDuplicatePointsAtTheSecond() throws {
        let found = try error("namespace: a\nsettle: 50ms\nsite: /s\n\nsettle: 1s\n")
        #expect(found.code == .invalidYAML && found.key == "settle" && found.line == 5)
        #expect(found.description
            == "/etc/ipsyncd/ipsyncd.yaml:5: settle: duplicate key at line 5, column 1; it is already set at line 2, column 1: keep one")
    }

    @Test func aDuplicateInsideARouteOrAFlowMappingPointsAtTheSecond() throws {
        let nested = try error("routes:\n  - location: /\n    service: a\n    service: b\n")
        #expect(nested.key == "service" && nested.line == 4 && nested.message.hasPrefix("duplicate key at line 4, column 5"))
        let flow = try error("routes:\n  - {location: /, service: a, service: b}\n")
        #expect(flow.key == "service" && flow.line == 2 && flow.message.hasPrefix("duplicate key at line 2, column 31"))
        let third = try error("settle: 1s\nsettle: 2s\nsettle: 3s\n")
        #expect(third.line == 2)
    }
}
