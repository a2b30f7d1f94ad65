// nginxconf-bench FILE [--iterations N]
// Parses FILE, prints it back and rewrites the routed locations (/, /api/, /ws/), N times, and
// reports the minimum and median time of each step per iteration. bench/parser.sh drives it.
import FoundationEssentials
import Glibc
import NginxConf

struct Options {
    var path = ""
    var iterations = 50
}

func parseOptions() -> Options? {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--iterations":
            guard let value = arguments.popFirst().flatMap(Int.init), value > 0 else { return nil }
            options.iterations = value
        case let path where !path.hasPrefix("-") && options.path.isEmpty:
            options.path = path
        default:
            return nil
        }
    }
    return options.path.isEmpty ? nil : options
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
}

func fail(_ message: String) -> Never {
    let bytes = Array("nginxconf-bench: \(message)\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

func summary(_ name: String, _ times: [Double]) -> String {
    let sorted = times.sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    let padded = name + String(repeating: " ", count: max(0, 8 - name.count))
    return "\(padded) min \(format(sorted[0])) ms   median \(format(median)) ms"
}

func format(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}

/// Everything runs inside a function: top-level variables in main.swift are main-actor globals,
/// and their isolation checks would be measured along with the parser.
func run() {
    guard let options = parseOptions() else {
        fail("usage: nginxconf-bench FILE [--iterations N]")
    }
    let input: [UInt8]
    do {
        input = Array(try Data(contentsOf: URL(fileURLWithPath: options.path)))
    } catch {
        fail("cannot read \(options.path): \(error)")
    }

    let edits = [
        RouteEdit(route: "/", address: "10.43.200.1:3000"),
        RouteEdit(route: "/api/", address: "10.43.200.2:9000"),
        RouteEdit(route: "/ws/", address: "[fd00::7]:8080"),
    ]
    let clock = ContinuousClock()
    var parseTimes: [Double] = [], printTimes: [Double] = [], rewriteTimes: [Double] = [], totals: [Double] = []
    var changes = 0
    for _ in 0..<options.iterations {
        let start = clock.now
        let file: ConfigFile
        do {
            file = try ConfigFile.parse(input, path: options.path)
        } catch {
            fail("\(error)")
        }
        let parsed = clock.now
        let printed = file.printed()
        let printedAt = clock.now
        let result = file.rewrite(edits)
        let end = clock.now
        parseTimes.append(milliseconds(parsed - start))
        printTimes.append(milliseconds(printedAt - parsed))
        rewriteTimes.append(milliseconds(end - printedAt))
        totals.append(milliseconds(end - start))
        // Checked outside the timed steps: the work was real and lossless.
        if printed != input { fail("printed bytes differ from the input") }
        if !result.errors.isEmpty { fail("rewrite errors: \(result.errors.map(\.description))") }
        if result.changes.isEmpty || result.bytes.count < input.count { fail("the rewrite changed nothing") }
        changes = result.changes.count
    }

    let lines = input.lazy.filter { $0 == UInt8(ascii: "\n") }.count
    print("nginxconf-bench: \(options.path): \(lines) lines, \(input.count) bytes, \(changes) targets rewritten, \(options.iterations) iterations")
    print(summary("parse", parseTimes))
    print(summary("print", printTimes))
    print(summary("rewrite", rewriteTimes))
    print(summary("total", totals))
}

run()
