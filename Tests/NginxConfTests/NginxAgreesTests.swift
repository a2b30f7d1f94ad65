import Foundation
import Testing
import TestSupport
import NginxConf

/// The real nginx (`nginx -t` in a temp prefix) agrees with the parser on every fixture.
@Suite(.enabled(if: findExecutable("nginx") != nil, "needs nginx"))
struct NginxAgreesTests {
    static let loadable = siteFixtures().filter { fixturesNginxCannotLoad[$0] == nil }

    @Test(arguments: loadable)
    func nginxAcceptsFixture(_ name: String) async throws {
        try await blocking {
            let check = try NginxSandbox().check(try fixtureBytes("nginx/\(name).conf"))
            #expect(check.ok, "\(check.output)")
        }
    }

    @Test(arguments: loadable)
    func nginxAcceptsRewrittenFixture(_ name: String) async throws {
        try await blocking {
            let (_, result) = try RewriteGoldenTests.rewritten(name)
            let check = try NginxSandbox().check(result.bytes)
            #expect(check.ok, "\(check.output)")
        }
    }

    @Test(arguments: invalidFixtures())
    func nginxRejectsInvalidFixture(_ name: String) async throws {
        try await blocking {
            let check = try NginxSandbox().check(try fixtureBytes("nginx/invalid/\(name).conf"))
            #expect(!check.ok)
            #expect(check.output.contains("site.conf"), "\(check.output)")
        }
    }

    /// Tokenizer corner cases inside a location: nginx -t and the parser accept or reject alike.
    static let snippets: [String] = [
        "return 200 x};", "return 200 \"a\"#x\n;", "return 200 a#x;", "return 200 \"a\\\"b\";",
        "return 200 'a\\'b';", "return 200 \"a;{}\";", "return 200 \"a\"b;", "return 200 a\"b\";",
        "return 200 \\;;", "return 200 ${host};", "return 200 $host{;", "return 200 \"unterminated;",
        "return 200 # comment\n ok;", "return 200\n#c\n\"x\";", ";", "{}", "return 200 x}",
        "if ($host = \"a\") { return 200; }", "if ($host = \"a\"){ return 200; }", "return 200 \"a\"{}",
        "return 200 a\\\nb;", "return 200 '';", "return 200 \"a\"\"b\";", "return 200 x;}",
        "return 200 x;\r\n", "return\t200\tx;", "}", "location /x/ { return 200; }",
        "location /x/;", "proxy_pass http://10.0.0.1:80 { }",
    ]

    @Test(arguments: snippets)
    func nginxAndParserAgreeOnSnippet(_ snippet: String) async throws {
        try await blocking {
            let site = Array("server {\n    listen 8080;\n    location / {\n\(snippet)\n    }\n}\n".utf8)
            let parsed = (try? ConfigFile.parse(site, path: "site.conf")) != nil
            let check = try NginxSandbox().check(site)
            #expect(parsed == check.ok, "parser \(parsed ? "accepts" : "rejects"); nginx: \(check.output)")
        }
    }

    /// Random `return 200 <bytes>;` inside a location, from fixed seeds: when the parser rejects,
    /// nginx rejects; when the parser reads exactly the intended structure, nginx accepts.
    @Test(arguments: 0..<100)
    func nginxAndParserAgreeOnRandomArgument(_ seed: Int) async throws {
        try await blocking {
            var rng = SplitMix64(seed: UInt64(seed) &* 0x5DEECE66D &+ 11)
            let pieces = ["a", "\"", "'", "\\", " ", ";", "{", "}", "#", "\n", "\r\n", "\t", ")", "${host}", "é", "b"]
            let argument = (0..<(1 + rng.below(8))).map { _ in rng.pick(pieces) }.joined()
            let site = Array("server {\n    listen 8080;\n    location / {\n        return 200 \(argument);\n    }\n}\n".utf8)
            let check = try NginxSandbox().check(site)
            guard let file = try? ConfigFile.parse(site, path: "site.conf") else {
                #expect(!check.ok, "parser rejects \(argument.debugDescription); nginx accepts")
                return
            }
            let location = file.directives.first?.children?.last
            let intended = file.directives.count == 1 && file.directives[0].children?.count == 2
                && location?.name == "location" && location?.children?.count == 1
                && location?.children?[0].name == "return" && location?.children?[0].arguments.count == 2
            if intended {
                #expect(check.ok, "parser reads \(argument.debugDescription) as intended; nginx: \(check.output)")
            }
        }
    }
}
