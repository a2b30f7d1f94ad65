import Foundation
import Testing
import TestSupport
import NginxConf

/// Each `invalid/NAME.conf` is rejected with the code, line and column in `invalid/NAME.error`.
@Suite struct InvalidFixtureTests {
    @Test(arguments: invalidFixtures())
    func rejectedWithCodeLineAndColumn(_ name: String) throws {
        let expected = try String(contentsOfFile: fixturePath("nginx/invalid/\(name).error"), encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).map(String.init)
        try #require(expected.count == 3)
        let bytes = try fixtureBytes("nginx/invalid/\(name).conf")
        do {
            _ = try ConfigFile.parse(bytes, path: "\(name).conf")
            Issue.record("\(name) was accepted")
        } catch {
            #expect(error.code.rawValue == expected[0])
            #expect(error.line == Int(expected[1]))
            #expect(error.column == Int(expected[2]))
            #expect(error.description.hasPrefix("\(name).conf:\(expected[1]):\(expected[2]): "))
        }
    }

    @Test func everySyntaxCodeHasAFixture() throws {
        let codes = try Set(invalidFixtures().map { name in
            try String(contentsOfFile: fixturePath("nginx/invalid/\(name).error"), encoding: .utf8)
                .split(separator: " ")[0]
        })
        let syntax: [NginxConfError.Code] = [.unexpectedEnd, .unexpectedCloseBrace, .unexpectedSemicolon,
                                              .unterminatedQuote, .missingSemicolon, .unexpectedOpenBrace, .invalidDirective,
                                              .tooLong]
        for code in syntax { #expect(codes.contains(Substring(code.rawValue)), "\(code)") }
    }
}
