import Foundation
import Testing
import TestSupport
@testable import IpsyncdCore

@Suite struct MetricsTests {
    @Test func renderHasEveryMetricWithHelpAndType() {
        var metrics = MetricsFile(path: "/unused")
        metrics.record(.applied, at: 1_795_768_654, check: .milliseconds(41), reload: .milliseconds(12), reloadOK: true)
        metrics.record(.inSync, at: 1_795_768_700, check: nil, reload: nil, reloadOK: nil)
        metrics.record(.failed, at: 1_795_768_800, check: .milliseconds(40), reload: nil, reloadOK: nil)
        metrics.record(.failed, at: 1_795_768_900, check: .milliseconds(5), reload: .milliseconds(7), reloadOK: false)
        metrics.watchReconnects = 3
        metrics.routes = [.init(location: "/api/", service: "api-gateway", inSync: true),
                          .init(location: "/ws/", service: "websocket-gateway", inSync: false)]
        let text = metrics.render()
        #expect(text == """
            # HELP ipsyncd_resyncs_total Resyncs by result.
            # TYPE ipsyncd_resyncs_total counter
            ipsyncd_resyncs_total{result="applied"} 1
            ipsyncd_resyncs_total{result="in_sync"} 1
            ipsyncd_resyncs_total{result="kept"} 0
            ipsyncd_resyncs_total{result="failed"} 2
            ipsyncd_resyncs_total{result="dry_run"} 0
            # HELP ipsyncd_reloads_total nginx reloads by result.
            # TYPE ipsyncd_reloads_total counter
            ipsyncd_reloads_total{result="ok"} 1
            ipsyncd_reloads_total{result="failed"} 1
            # HELP ipsyncd_last_success_timestamp_seconds Time of the last resync that did not fail, in seconds since the epoch (0: none yet).
            # TYPE ipsyncd_last_success_timestamp_seconds gauge
            ipsyncd_last_success_timestamp_seconds 1795768700
            # HELP ipsyncd_watch_reconnects_total Reconnects of the Kubernetes watch.
            # TYPE ipsyncd_watch_reconnects_total counter
            ipsyncd_watch_reconnects_total 3
            # HELP ipsyncd_route_in_sync 1 when the route's address in the site file is the Service's live address.
            # TYPE ipsyncd_route_in_sync gauge
            ipsyncd_route_in_sync{location="/api/",service="api-gateway"} 1
            ipsyncd_route_in_sync{location="/ws/",service="websocket-gateway"} 0
            # HELP ipsyncd_check_duration_seconds Duration of the last nginx config check.
            # TYPE ipsyncd_check_duration_seconds gauge
            ipsyncd_check_duration_seconds 0.005
            # HELP ipsyncd_reload_duration_seconds Duration of the last nginx reload.
            # TYPE ipsyncd_reload_duration_seconds gauge
            ipsyncd_reload_duration_seconds 0.007

            """)
    }

    @Test func labelValuesAreEscaped() {
        #expect(MetricsFile.label("a\"b\\c\nd") == "a\\\"b\\\\c\\nd")
    }

    @Test func writeIsAtomicAndLeavesNoTemporaryFiles() throws {
        let dir = try TempDir()
        let path = dir.file("ipsyncd.prom")
        var metrics = MetricsFile(path: path)
        try metrics.write()
        metrics.record(.applied, at: 100, check: .milliseconds(1), reload: .milliseconds(2), reloadOK: true)
        // A reader holding the old file keeps the old contents: the new one arrives by rename, not in place.
        let before = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        try metrics.write()
        let old = String(decoding: try before.readToEnd() ?? Data(), as: UTF8.self)
        #expect(old.contains("ipsyncd_resyncs_total{result=\"applied\"} 0"))
        let new = String(decoding: try readBytes(path), as: UTF8.self)
        #expect(new == metrics.render())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ipsyncd.prom"])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o644)
    }

    @Test func writeIntoMissingDirectoryIsAClearError() throws {
        let dir = try TempDir()
        let metrics = MetricsFile(path: dir.file("missing/ipsyncd.prom"))
        #expect(throws: ConfigError.self) { try metrics.write() }
        do { try metrics.write() } catch {
            #expect(error.code == .metricsWrite)
            #expect(error.source == dir.file("missing/ipsyncd.prom") && error.key == "metrics_file")
            #expect(error.message.contains("missing"))
        }
    }
}
