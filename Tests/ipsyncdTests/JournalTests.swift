import Foundation
import Logging
import Testing
import TestSupport
@testable import IpsyncdCore

/// A unix datagram socket the test binds (a path, or `@name` abstract), to receive what the code under test sends.
final class DatagramReceiver {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0, let made = UnixDatagramSocket.makeAddress(path) else {
            throw ConfigError(code: .socket, source: path, message: "test socket")
        }
        var (address, length) = made
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw ConfigError(code: .socket, source: path, message: "bind: \(errno)") }
    }

    deinit { close(fd) }

    /// One datagram without blocking a thread of the test pool (async tests share two of them with the code
    /// under test): polls for at most 15 s.
    func next() async -> [UInt8]? {
        for _ in 0..<1500 {
            if let datagram = receive(flags: Int32(MSG_DONTWAIT)) { return datagram }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// One datagram (waits at most 5 s); a passed file descriptor's contents instead when one came with it.
    func receive(flags: Int32 = 0) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var control = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { controlBuffer in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBuffer.baseAddress
                    message.msg_controllen = controlBuffer.count
                    let received = recvmsg(fd, &message, flags)
                    return (received, message.msg_controllen)
                }
            }
        }
        guard count.0 >= 0 else { return nil }
        if count.0 == 0 && count.1 > 0 {
            let passed = control.withUnsafeBytes { $0.load(fromByteOffset: MemoryLayout<cmsghdr>.size, as: Int32.self) }
            defer { close(passed) }
            var contents: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            var offset: off_t = 0
            while true {
                let got = chunk.withUnsafeMutableBytes { pread(passed, $0.baseAddress, $0.count, offset) }
                if got <= 0 { break }
                contents += chunk[0..<got]
                offset += off_t(got)
            }
            return contents
        }
        return Array(buffer[0..<count.0])
    }
}

/// The native protocol parsed back: fields in order, values as bytes.
func parseJournalEntry(_ bytes: [UInt8]) -> [(String, [UInt8])] {
    var fields: [(String, [UInt8])] = []
    var index = 0
    while index < bytes.count {
        guard let end = bytes[index...].firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "=") })
        else { break }
        let name = String(decoding: bytes[index..<end], as: UTF8.self)
        if bytes[end] == UInt8(ascii: "=") {
            let lineEnd = bytes[end...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            fields.append((name, Array(bytes[(end + 1)..<lineEnd])))
            index = lineEnd + 1
        } else {
            var length: UInt64 = 0
            for shift in 0..<8 { length |= UInt64(bytes[end + 1 + shift]) << (8 * UInt64(shift)) }
            let start = end + 9
            fields.append((name, Array(bytes[start..<(start + Int(length))])))
            #expect(bytes[start + Int(length)] == UInt8(ascii: "\n"))
            index = start + Int(length) + 1
        }
    }
    return fields
}

func values(_ fields: [(String, [UInt8])], _ name: String) -> [String] {
    fields.filter { $0.0 == name }.map { String(decoding: $0.1, as: UTF8.self) }
}

@Suite struct JournalTests {
    func journalLogger(_ receiverPath: String) throws -> Logger {
        let handler = LogSetup.makeHandler(format: .journal, level: .debug, environment: [:],
                                           journalSocket: receiverPath, output: LineOutput { _ in })
        #expect(handler is JournalLogHandler)
        return Logger(label: "test") { _ in handler }
    }

    @Test func messagePriorityIdentifierAndMetadataFields() throws {
        let dir = try TempDir()
        let receiver = try DatagramReceiver(path: dir.file("journal.sock"))
        var logger = try journalLogger(receiver.path)
        logger[metadataKey: "component"] = "daemon"
        logger.warning("kept a route", metadata: ["ipsyncd_route": "/api/", "weird key-1": "x"])
        let fields = parseJournalEntry(try #require(receiver.receive()))
        #expect(values(fields, "MESSAGE") == ["kept a route"])
        #expect(values(fields, "PRIORITY") == ["4"])
        #expect(values(fields, "SYSLOG_IDENTIFIER") == ["ipsyncd"])
        #expect(values(fields, "IPSYNCD_ROUTE") == ["/api/"])
        #expect(values(fields, "COMPONENT") == ["daemon"])
        #expect(values(fields, "WEIRD_KEY_1") == ["x"])
        #expect(values(fields, "CODE_FILE").first?.hasSuffix("JournalTests.swift") == true)
    }

    @Test func arrayMetadataRepeatsTheField() throws {
        let dir = try TempDir()
        let receiver = try DatagramReceiver(path: dir.file("journal.sock"))
        let logger = try journalLogger(receiver.path)
        logger.notice("two routes", metadata: ["ipsyncd_route": ["/api/", "/ws/"],
                                               "ipsyncd_service": ["api-gateway", "websocket-gateway"]])
        let fields = parseJournalEntry(try #require(receiver.receive()))
        #expect(values(fields, "IPSYNCD_ROUTE") == ["/api/", "/ws/"])
        #expect(values(fields, "IPSYNCD_SERVICE") == ["api-gateway", "websocket-gateway"])
        #expect(values(fields, "PRIORITY") == ["5"])
    }

    @Test func valuesWithNewlinesUseTheBinarySafeForm() throws {
        let dir = try TempDir()
        let receiver = try DatagramReceiver(path: dir.file("journal.sock"))
        let logger = try journalLogger(receiver.path)
        let text = "line one\nline=two\n\nPRIORITY=0"
        logger.error("\(text)", metadata: ["output": "a\nb"])
        let raw = try #require(receiver.receive())
        let fields = parseJournalEntry(raw)
        #expect(values(fields, "MESSAGE") == [text])
        #expect(values(fields, "PRIORITY") == ["3"])
        #expect(values(fields, "OUTPUT") == ["a\nb"])
        // The length prefix, not the newline, delimits the value: "MESSAGE\n" + 8 bytes of length.
        #expect(Array(raw.prefix(8)) == Array("MESSAGE\n".utf8))
        #expect(Array(raw[8..<16]) == [UInt8(text.utf8.count), 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func largeEntryGoesAsSealedMemfd() throws {
        let dir = try TempDir()
        let receiver = try DatagramReceiver(path: dir.file("journal.sock"))
        let logger = try journalLogger(receiver.path)
        var size = socklen_t(MemoryLayout<Int32>.size)
        var sendBuffer: Int32 = 0
        getsockopt(receiver.fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, &size)
        let big = String(repeating: "x", count: Int(sendBuffer) * 2 + 1000)
        logger.info("\(big)")
        let fields = parseJournalEntry(try #require(receiver.receive()))
        #expect(values(fields, "MESSAGE") == [big])
    }

    @Test func fieldNamesAreSanitized() {
        #expect(JournalLogHandler.fieldName("ipsyncd_route") == "IPSYNCD_ROUTE")
        #expect(JournalLogHandler.fieldName("_private") == "PRIVATE")
        #expect(JournalLogHandler.fieldName("9lives") == "LIVES")
        #expect(JournalLogHandler.fieldName("a.b-c") == "A_B_C")
        #expect(JournalLogHandler.fieldName("__") == nil)
        #expect(JournalLogHandler.fieldName(String(repeating: "k", count: 80))?.count == 64)
    }

    @Test func missingJournalFallsBackToText() throws {
        let dir = try TempDir()
        let lines = LineCollector()
        let handler = LogSetup.makeHandler(format: .journal, level: .info, environment: [:],
                                           journalSocket: dir.file("absent.sock"), output: lines.output)
        Logger(label: "test") { _ in handler }.info("still visible")
        #expect(lines.text.contains("INFO still visible"))
    }

    @Test func autoIsTextOutsideSystemd() throws {
        let dir = try TempDir()
        let receiver = try DatagramReceiver(path: dir.file("journal.sock"))
        #expect(LogSetup.resolve(.auto, environment: [:], journalSocket: receiver.path) == .text)
        // JOURNAL_STREAM naming some other stream than this process's stderr is not systemd's stream.
        #expect(LogSetup.resolve(.auto, environment: ["JOURNAL_STREAM": "1:1"], journalSocket: receiver.path) == .text)
        #expect(LogSetup.resolve(.json, environment: [:], journalSocket: receiver.path) == .json)
    }

    @Test func autoIsJournalWhenStderrIsTheJournalStream() throws {
        let dir = try TempDir()
        let receiver = try DatagramReceiver(path: dir.file("journal.sock"))
        var status = stat()
        #expect(fstat(2, &status) == 0)
        let stream = "\(status.st_dev):\(status.st_ino)"
        #expect(LogSetup.resolve(.auto, environment: ["JOURNAL_STREAM": stream], journalSocket: receiver.path) == .journal)
        #expect(LogSetup.resolve(.auto, environment: ["JOURNAL_STREAM": stream], journalSocket: dir.file("none")) == .text)
    }
}
