// libFuzzer entry point for NginxConf, compiled together with Sources/NginxConf by scripts/fuzz.sh
// (not a package target: libFuzzer supplies `main`). Any trap or sanitizer report is a finding.

/// Addresses the rewrite tries, chosen to change the text's length both ways and to cross families.
private let newAddresses = ["10.0.0.1:8080", "[fd00::7]:443", "1.2.3.4:80"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNginxConf(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    guard let file = try? ConfigFile.parse(bytes, path: "fuzz.conf") else { return 0 }
    precondition(file.printed() == bytes, "printed() differs from the parsed bytes")

    // The routes the file has, plus two it may lack; every query must answer, never trap.
    var routes = file.locations().compactMap(\.locationPath).prefix(8).map { $0 }
    routes += ["/", "/api/"]
    for route in routes { _ = file.targets(route: route) }
    _ = file.strayTargets(routes: routes, hosts: ["10.43.0.12", "fd00::7"])
    _ = file.servers(); _ = file.includes()

    for shift in newAddresses.indices {
        let edits = routes.enumerated().map {
            RouteEdit(route: $0.element, address: newAddresses[($0.offset + shift) % newAddresses.count])
        }
        let result = file.rewrite(edits)
        if result.changes.isEmpty {
            precondition(result.bytes == bytes, "no change reported, yet the bytes differ")
            continue
        }
        // A rewrite only swaps address bytes: its output must still parse, and round-trip.
        guard let again = try? ConfigFile.parse(result.bytes, path: "fuzz.conf") else {
            preconditionFailure("the rewrite of a parsable file does not parse")
        }
        precondition(again.printed() == result.bytes, "the rewrite's output does not round-trip")
    }
    return 0
}
