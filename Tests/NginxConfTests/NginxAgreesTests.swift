import Foundation
import Testing
import TestSupport
import NginxConf

/// The real nginx (`nginx -t` in a temp prefix) agrees with the parser on every fixture.
@Suite(.enabled(if: findExecutable("nginx") != nil, "needs nginx"))
struct NginxAgreesTests {
    static let loadable = siteFixtures().filter { fixturesNginxCannotLoad[$0] == nil }

    @Test(arguments: loadable)
    func nginxAcceptsFixture(_ name: String) throws {
        let check = try NginxSandbox().check(try fixtureBytes("nginx/\(name).conf"))
        #expect(check.ok, "\(check.output)")
    }

    @Test(arguments: loadable)
    func nginxAcceptsRewrittenFixture(_ name: String) throws {
        let (_, result) = try RewriteGoldenTests.rewritten(name)
        let check = try NginxSandbox().check(result.bytes)
        #expect(check.ok, "\(check.output)")
    }

    @Test(arguments: invalidFixtures())
    func nginxRejectsInvalidFixture(_ name: String) throws {
        let check = try NginxSandbox().check(try fixtureBytes("nginx/invalid/\(name).conf"))
        #expect(!check.ok)
        #expect(check.output.contains("site.conf"), "\(check.output)")
    }
}
