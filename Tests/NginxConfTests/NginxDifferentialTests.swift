import Foundation
import Testing
import TestSupport
import NginxConf

/// The parser accepts exactly what nginx's syntax accepts, and names nginx's line: real `nginx -t`
/// on seeded mutants of the fixtures (Differential.swift). NGINXCONF_DIFF_MUTANTS and
/// NGINXCONF_DIFF_SEED change the run (scripts/nginx-differential.sh).
@Suite(.enabled(if: findExecutable("nginx") != nil, "needs nginx"))
struct NginxDifferentialTests {
    @Test func nginxAndParserAcceptEverySeed() async throws {
        try await blocking {
            let sandbox = try NginxSandbox()
            for (name, bytes) in try Differential.seeds() {
                let check = try sandbox.check(bytes)
                #expect(check.ok, "\(name): \(check.output)")
                #expect((try? ConfigFile.parse(bytes, path: name))?.printed() == bytes, "\(name)")
            }
        }
    }

    @Test func parserAgreesWithNginxOnMutants() throws {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["NGINXCONF_DIFF_MUTANTS"].flatMap(Int.init) ?? 400
        let seed = environment["NGINXCONF_DIFF_SEED"].flatMap(UInt64.init) ?? 12
        let report = try Differential.run(count: count, seed: seed)
        print("nginx differential, seed \(seed): \(report.summary)")
        #expect(report.tried == count)
        #expect(report.disagreements == 0, "\(report.summary)\n\(report.examples.joined(separator: "\n"))")
        // Not vacuous: many mutants reach a syntax error that both must name.
        #expect(report.counts[.sameSyntaxErrorLine, default: 0] >= count / 10, "\(report.summary)")
    }

    /// Each boundary of nginx's 4096-byte buffer, as nginx 1.22 decides it (the byte after a token,
    /// and one more after a space, must fit in the buffer with the token).
    static let lengthCases: [(String, Bool)] = [
        ("set $a \(String(repeating: "a", count: 4095));", true),
        ("set $a \(String(repeating: "a", count: 4096));", false),
        ("set $a \(String(repeating: "a", count: 4094)) ;", true),
        ("set $a \(String(repeating: "a", count: 4095)) ;", false),
        ("set $a \"\(String(repeating: "a", count: 4094))\";", true),
        ("set $a \"\(String(repeating: "a", count: 4095))\";", false),
        ("set $a '\(String(repeating: "a", count: 4093))' ;", true),
        ("set $a '\(String(repeating: "a", count: 4094))' ;", false),
        ("#\(String(repeating: "c", count: 4094))", true),
        ("#\(String(repeating: "c", count: 4095))", false),
        ("#\(String(repeating: "c", count: 4094))\r", false),
        ("set $a \"\(String(repeating: "a", count: 5000));", false),
    ]

    @Test(arguments: lengthCases.indices)
    func lengthLimitsAsNginx(_ index: Int) async throws {
        try await blocking {
            let (line, acceptedByNginx) = Self.lengthCases[index]
            let site = Array("server {\n    listen 8080;\n    \(line)\n}\n".utf8)
            let sandbox = try NginxSandbox()
            let check = try sandbox.check(site)
            #expect(check.ok == acceptedByNginx, "\(check.output)")
            let (outcome, detail) = Differential.compare(site, Differential.verdict(ok: check.ok, output: check.output,
                                                                                    sandbox: sandbox.dir.path))
            #expect(outcome == (acceptedByNginx ? .bothAccept : .sameSyntaxErrorLine), "\(detail)")
            do throws(NginxConfError) {
                _ = try ConfigFile.parse(site, path: "site.conf")
                #expect(acceptedByNginx)
            } catch {
                #expect(!acceptedByNginx)
                #expect(error.code == .tooLong || error.code == .unterminatedQuote, "\(error)")
                #expect(error.line == 3, "\(error)")
            }
        }
    }
}
