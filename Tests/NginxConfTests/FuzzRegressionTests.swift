import Foundation
import Testing
import TestSupport
@testable import NginxConf

/// Inputs kept from `scripts/fuzz.sh nginxconf` (Tests/Fixtures/fuzz/nginxconf), replayed through the
/// fuzz target's own checks: parse or throw; a parsed file prints back its bytes; every route
/// query answers; a rewrite's output parses and round-trips.
@Suite struct NginxConfFuzzRegressionTests {
    static let newAddresses = ["10.0.0.1:8080", "[fd00::7]:443", "1.2.3.4:80"]

    static func inputs() -> [String] {
        let dir = fixturePath("fuzz/nginxconf")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test func corpusIsKept() {
        #expect(!Self.inputs().isEmpty, "Tests/Fixtures/fuzz/nginxconf holds the fuzzer's kept inputs")
    }

    @Test(arguments: inputs())
    func replays(_ name: String) throws {
        let bytes = try readBytes(fixturePath("fuzz/nginxconf/\(name)"))
        guard let file = try? ConfigFile.parse(bytes, path: name) else { return }
        #expect(file.printed() == bytes)
        let routes = file.locations().compactMap(\.locationPath).prefix(8) + ["/", "/api/"]
        for route in routes { _ = file.targets(route: route) }
        _ = file.strayTargets(routes: Array(routes), hosts: ["10.43.0.12", "fd00::7"])
        for shift in Self.newAddresses.indices {
            let edits = routes.enumerated().map {
                RouteEdit(route: $0.element, address: Self.newAddresses[($0.offset + shift) % Self.newAddresses.count])
            }
            let result = file.rewrite(edits)
            if result.changes.isEmpty {
                #expect(result.bytes == bytes)
                continue
            }
            let again = try ConfigFile.parse(result.bytes, path: name)
            #expect(again.printed() == result.bytes)
        }
    }
}
