import Foundation
import Testing
import TestSupport
@testable import NginxConf

@Suite struct RoundTripTests {
    @Test(arguments: siteFixtures())
    func fixtureRoundTrips(_ name: String) throws {
        let bytes = try fixtureBytes("nginx/\(name).conf")
        #expect(try ConfigFile.parse(bytes, path: name).printed() == bytes)
    }

    /// Every config file of the installed nginx package (skipped when nginx is not installed).
    @Test func etcNginxRoundTrips() throws {
        let root = "/etc/nginx"
        guard FileManager.default.fileExists(atPath: root),
              let walker = FileManager.default.enumerator(atPath: root) else { return }
        var checked = 0
        for case let relative as String in walker {
            let path = root + "/" + relative
            guard let bytes = try? readBytes(path), !bytes.contains(0) else { continue }  // directories, binaries
            // Every config file of the package is valid nginx syntax (fragments included).
            let file = try ConfigFile.parse(bytes, path: path)
            #expect(file.printed() == bytes, "\(path)")
            checked += 1
        }
        #expect(checked > 0)
    }

    @Test func tokensTileTheFile() throws {
        for name in siteFixtures() {
            let file = try ConfigFile.parse(try fixtureBytes("nginx/\(name).conf"), path: name)
            var next = 0
            for token in file.tokens {
                #expect(token.start == next && token.end > token.start, "\(name)")
                next = token.end
            }
            #expect(next == file.source.count)
        }
    }

    /// Random token soup and random well-formed blocks, from a fixed seed: each input either
    /// parses and prints back byte for byte, or throws; never crashes.
    @Test func randomTokenSequencesRoundTripOrThrow() {
        var rng = SplitMix64(seed: 0x1F5_C0DE)
        var parsed = 0, rejected = 0
        for round in 0..<2_500 {
            let bytes = round.isMultiple(of: 2) ? Self.soup(&rng) : Self.structured(&rng, depth: 0)
            do {
                let file = try ConfigFile.parse(bytes, path: "random")
                #expect(file.printed() == bytes, "round \(round)")
                parsed += 1
            } catch {
                #expect(error.line >= 1 && error.column >= 1, "round \(round)")
                rejected += 1
            }
        }
        #expect(parsed > 1_000)
        #expect(rejected > 100)
    }

    static let words = ["a", "proxy_pass", "http://10.0.0.1:80/", "$host", "${v}x", "x}", "a\\;b", "\\\"", "=", "^~", "/api/", ")", "(", "é"]
    static let quotes = ["\"\"", "\"a b\"", "\"{;}\"", "\"\\\"\"", "'x'", "'\\''", "\"multi\nline\"", "\"unterminated", "'a\\"]
    static let spaces = [" ", "\t", "\n", "\r\n", "  \t"]

    static func soup(_ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<rng.below(40) {
            switch rng.below(9) {
            case 0, 1: out += Array(rng.pick(words).utf8)
            case 2: out += Array(rng.pick(quotes).utf8)
            case 3: out += Array("#".utf8) + (0..<rng.below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) | 0x80 } + [10]
            case 4: out += Array(rng.pick(["{", "}", ";"]).utf8)
            case 5: out.append(UInt8(truncatingIfNeeded: rng.next()))
            default: out += Array(rng.pick(spaces).utf8)
            }
        }
        return out
    }

    /// Mostly valid configs: directives with arguments, nested blocks, comments, odd spacing.
    static func structured(_ rng: inout SplitMix64, depth: Int) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<rng.below(5) {
            out += Array(rng.pick(spaces).utf8)
            if rng.below(4) == 0 {
                out += Array("# c".utf8) + [UInt8(truncatingIfNeeded: rng.next()) | 0x80] + Array(rng.pick(["\n", "\r\n"]).utf8)
            }
            let name = rng.pick(["server", "location", "a", "\"q\"", "lua_by_lua_block"])
            out += Array(name.utf8)
            for _ in 0..<rng.below(3) {
                out += Array(rng.pick(spaces).utf8)
                out += Array((rng.below(3) == 0 ? rng.pick(Array(quotes.prefix(7))) : rng.pick(words)).utf8)
            }
            out += Array(rng.pick(spaces).utf8)
            if name == "lua_by_lua_block" {
                out += Array("{ local t = { '}' } -- }\n }".utf8)
            } else if name == "server" || name == "location" || (depth < 4 && rng.below(3) == 0) {
                out += Array("{".utf8) + (depth < 4 ? structured(&rng, depth: depth + 1) : []) + Array("}".utf8)
            } else {
                out += Array(";".utf8)
            }
        }
        return out
    }
}
