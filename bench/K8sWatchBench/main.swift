// k8swatch-bench: figures for docs/benchmarks.md, against the test API server (bench/k8swatch.sh starts it).
//   k8swatch-bench latency --kubeconfig PATH --control URL [--count 1000]
//       event → snapshot: server's emittedAtNs to the snapshot's arrival, both CLOCK_REALTIME
//   k8swatch-bench list --kubeconfig PATH --control URL [--count 5000]
//       LIST + decode of a namespace with COUNT Services: time, and peak RSS (VmHWM)
import Foundation
import Glibc
@_spi(Bench) import K8sWatch
import Logging
import Synchronization

struct Options {
    var mode = ""
    var kubeconfig = ""
    var control = ""
    var count: Int?

    init(_ arguments: [String]) {
        var rest = arguments.makeIterator()
        mode = rest.next() ?? ""
        while let flag = rest.next() {
            let value = rest.next() ?? ""
            switch flag {
            case "--kubeconfig": kubeconfig = value
            case "--control": control = value
            case "--count": count = Int(value)
            default: fail("unknown option \(flag)")
            }
        }
        if kubeconfig.isEmpty || control.isEmpty || !["latency", "list"].contains(mode) {
            fail("usage: k8swatch-bench latency|list --kubeconfig PATH --control URL [--count N]")
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("k8swatch-bench: \(message)\n".utf8))
    exit(1)
}

func realtimeNs() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// `VmHWM` (peak resident set) of this process, in kB.
func peakRSSkB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}

/// Arrival times of snapshots by resourceVersion, written by the consumer task.
final class Arrivals: Sendable {
    private let times = Mutex<[String: UInt64]>([:])
    func record(_ version: String, _ at: UInt64) { times.withLock { $0[version] = at } }
    func at(_ version: String) -> UInt64? { times.withLock { $0[version] } }
    var isEmpty: Bool { times.withLock { $0.isEmpty } }
}

// MARK: - The control interface (plain HTTP/1.1 on loopback; a socket is all it needs)

struct Emitted: Decodable { var resourceVersion: String; var emittedAtNs: UInt64 }

func control(_ base: String, _ method: String, _ path: String, _ json: String) -> Emitted {
    guard let hostPort = base.split(separator: "/").last, let port = UInt16(hostPort.split(separator: ":").last ?? "") else {
        fail("bad control URL \(base)")
    }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if connected != 0 { fail("cannot connect to the control interface \(base)") }
    let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + "Content-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
    _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    guard let split = response.firstRange(of: Array("\r\n\r\n".utf8)),
          let emitted = try? JSONDecoder().decode(Emitted.self, from: Data(response[split.upperBound...])) else {
        fail("control \(method) \(path) answered: \(String(decoding: response, as: UTF8.self))")
    }
    return emitted
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func ms(_ value: Double) -> String { String(format: "%.3f ms", value) }

// MARK: - Benchmarks

func latency(_ options: Options) async {
    let count = options.count ?? 1000
    let credentials: ClusterCredentials
    do { credentials = try KubeConfigLoader.load(path: options.kubeconfig, context: nil, environment: [:]) }
    catch { fail("\(error)") }
    _ = control(options.control, "POST", "/control/services", #"{"name":"bench-api","clusterIP":"10.96.0.1","ports":[{"name":"http","port":80}]}"#)
    var logger = Logger(label: "k8swatch-bench")
    logger.logLevel = .warning
    let watcher = KubernetesSource(credentials: credentials, namespace: "flowmaster", names: ["bench-api"])
        .watcher(logger: logger)
    let arrivals = Arrivals()
    let run = Task { await watcher.run() }
    let consumer = Task {
        for await snapshot in watcher.snapshots {
            let now = realtimeNs()
            arrivals.record(snapshot.resourceVersion, now)
        }
    }
    func arrival(_ rv: String) async -> UInt64 {
        while true {
            if let at = arrivals.at(rv) { return at }
            try? await Task.sleep(for: .microseconds(200))
        }
    }
    // Wait for the first snapshot and an open watch, then warm up.
    while arrivals.isEmpty { try? await Task.sleep(for: .milliseconds(5)) }
    while await !watcher.health.connected { try? await Task.sleep(for: .milliseconds(5)) }
    var samples: [Double] = []
    for i in 0..<(count + 50) {
        let ip = "10.96.\(1 + i / 250).\(1 + i % 250)"
        let emitted = control(options.control, "PUT", "/control/services/bench-api", #"{"clusterIP":"\#(ip)"}"#)
        let at = await arrival(emitted.resourceVersion)
        if i >= 50 { samples.append(Double(Int64(at) - Int64(emitted.emittedAtNs)) / 1e6) }
    }
    run.cancel()
    await run.value
    consumer.cancel()
    samples.sort()
    let mean = samples.reduce(0, +) / Double(samples.count)
    print("event → snapshot over \(credentials.server.hasPrefix("https") ? "HTTPS" : "HTTP"), \(samples.count) updates: "
          + "median \(ms(percentile(samples, 0.5))), p99 \(ms(percentile(samples, 0.99))), "
          + "mean \(ms(mean)), max \(ms(samples.last ?? 0))")
}

func list(_ options: Options) async {
    let count = options.count ?? 5000
    let credentials: ClusterCredentials
    do { credentials = try KubeConfigLoader.load(path: options.kubeconfig, context: nil, environment: [:]) }
    catch { fail("\(error)") }
    _ = control(options.control, "POST", "/control/bulk", #"{"prefix":"svc","count":\#(count)}"#)
    let client = APIClient(credentials: credentials)
    let path = "/api/v1/namespaces/flowmaster/services"
    let names: Set<String> = ["svc-0", "svc-\(count / 2)", "svc-\(count - 1)", "absent"]
    let source = KubernetesSource(credentials: credentials, namespace: "flowmaster", names: names)
    var body: [UInt8] = []
    var transfer: [Double] = [], total: [Double] = []
    do {
        body = try await client.get(path, query: [])
        let before = peakRSSkB()
        var decode: [Double] = []
        var kept = 0
        for _ in 0..<7 {
            let start = ContinuousClock.now
            kept = try decodeServiceList(body, names: names).services.count
            decode.append(Double((ContinuousClock.now - start) / .microseconds(1)) / 1000)
        }
        decode.sort()
        print("decode of a \(count)-Service list (\(body.count / 1024) KiB, \(kept) kept): median \(ms(percentile(decode, 0.5))), "
              + "min \(ms(decode[0])); peak RSS \(before / 1024) → \(peakRSSkB() / 1024) MiB")
        for _ in 0..<7 {
            var start = ContinuousClock.now
            _ = try await client.get(path, query: [])
            transfer.append(Double((ContinuousClock.now - start) / .microseconds(1)) / 1000)
            start = ContinuousClock.now
            _ = try await source.snapshot()
            total.append(Double((ContinuousClock.now - start) / .microseconds(1)) / 1000)
        }
    } catch { fail("\(error)") }
    transfer.sort()
    total.sort()
    print("LIST + decode of \(count) Services: median \(ms(percentile(total, 0.5))), min \(ms(total[0])) "
          + "(the GET alone: median \(ms(percentile(transfer, 0.5)))); peak RSS \(peakRSSkB() / 1024) MiB")
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
switch options.mode {
case "latency": await latency(options)
default: await list(options)
}
