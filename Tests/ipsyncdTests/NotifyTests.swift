import Foundation
import Testing
import TestSupport
@testable import IpsyncdCore

@Suite struct NotifyTests {
    func receivedText(_ receiver: DatagramReceiver) throws -> String {
        String(decoding: try #require(receiver.receive()), as: UTF8.self)
    }

    @Test func readyStatusWatchdogStoppingOverAPathSocket() throws {
        let dir = try TempDir()
        let receiver = try DatagramReceiver(path: dir.file("notify.sock"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.path, "WATCHDOG_USEC": "30000000"])
        #expect(notifier.isActive)
        #expect(notifier.watchdogInterval == .seconds(15))
        notifier.ready(status: "in sync, 3 routes")
        #expect(try receivedText(receiver) == "READY=1\nSTATUS=in sync, 3 routes")
        notifier.status("resync failed: nginx -t: bad\nsecond line")
        #expect(try receivedText(receiver) == "STATUS=resync failed: nginx -t: bad second line")
        notifier.watchdog()
        #expect(try receivedText(receiver) == "WATCHDOG=1")
        notifier.stopping(status: "stopping")
        #expect(try receivedText(receiver) == "STOPPING=1\nSTATUS=stopping")
    }

    @Test func abstractNamespaceSocket() throws {
        let name = "@ipsyncd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let receiver = try DatagramReceiver(path: name)
        SystemdNotifier(environment: ["NOTIFY_SOCKET": name]).ready(status: "ok")
        #expect(try receivedText(receiver) == "READY=1\nSTATUS=ok")
    }

    @Test func watchdogOnlyForThisProcess() {
        let other = SystemdNotifier(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"])
        #expect(other.watchdogInterval == nil || getpid() == 1)
        let mine = SystemdNotifier(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": String(getpid())])
        #expect(mine.watchdogInterval == .seconds(1))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "junk"]).watchdogInterval == nil)
    }

    @Test func noOpOutsideSystemd() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isActive)
        #expect(notifier.watchdogInterval == nil)
        notifier.ready(status: "nobody listens")
        notifier.watchdog()
    }
}
