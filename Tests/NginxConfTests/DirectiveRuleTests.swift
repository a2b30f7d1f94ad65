import Testing
@testable import NginxConf

/// Custom bodies, terminators from nginx's directive table, and the words nginx uses.
@Suite struct DirectiveRuleTests {
    static func parse(_ text: String) throws(NginxConfError) -> ConfigFile {
        try ConfigFile.parse(Array(text.utf8), path: "site.conf")
    }

    /// Failed before the fix: `directive "http" has no opening "{"` and the like.
    static let customBodies = [
        "map $http_x_forwarded_proto $fastcgi_https { default $https; http ''; https on; }",
        "map $uri $v { server 1; }",
        "map $uri $v { location 1; if 1; }",
        "types { location x; }",
        "geo $s { server 1; default location; }",
        "split_clients $a $b { 50% http; * sendfile; }",
        "charset_map a b { location server; }",
        "geoip2 /x.mmdb { $c default=x server; }",
        "server { listen 80; location / { types { proxy_pass x; } } }",
    ]

    @Test(arguments: customBodies)
    func customBodyLinesAreKeysAndValues(_ text: String) throws {
        let file = try Self.parse(text)
        #expect(file.printed() == Array(text.utf8))
        #expect(file.locations().count == (text.contains("location / {") ? 1 : 0))
    }

    /// Keys are no directives: a `proxy_pass` key in `types` is no target, a `location` key in a
    /// `map` no location.
    @Test func keysAreNotDirectives() throws {
        let file = try Self.parse("""
            map $uri $v { location 1; }
            server {
                listen 80;
                location / {
                    types { proxy_pass 10.0.0.1:80; }
                    proxy_pass http://10.0.0.2:80;
                }
            }
            """)
        #expect(file.directives[0].children?.isEmpty == true)
        #expect(file.locations().count == 1)
        let targets = try file.targets(route: "/").get()
        #expect(targets.map(\.address) == ["10.0.0.2:80"])
    }

    /// Failed before the fix: the parser read a block there.
    static let blocksInCustomBodies = [
        "map $uri $v { a { } }", "types { m { } }", "geo $s { l { } 1; }", "split_clients $a $b { 1% { } }",
        "charset_map a b { c { } }", "map $uri $v { location / { } }",
    ]

    @Test(arguments: blocksInCustomBodies)
    func blockInCustomBodyIsUnexpected(_ text: String) {
        #expect {
            try Self.parse(text)
        } throws: { error in
            let error = error as! NginxConfError
            return error.code == .unexpectedOpenBrace && error.message.hasPrefix("unexpected \"{\"")
        }
    }

    static let terminators: [(text: String, message: String, line: Int)] = [
        ("sendfile on { }", "directive \"sendfile\" is not terminated by \";\"", 1),
        ("charset_map a b;", "directive \"charset_map\" has no opening \"{\"", 1),
        ("content_by_lua_block;", "directive \"content_by_lua_block\" has no opening \"{\"", 1),
        ("location /x\n;", "directive \"location\" has no opening \"{\"", 2),
        ("http {\n server\n;\n}", "directive \"server\" has no opening \"{\"", 3),
        ("upstream u { server 10.0.0.1 {\n} }", "directive \"server\" is not terminated by \";\"", 1),
        ("echo hi {\n}", "directive \"echo\" is not terminated by \";\"", 1),
    ]

    @Test(arguments: terminators.indices)
    func terminatorErrorsInNginxWords(_ index: Int) {
        let (text, message, line) = Self.terminators[index]
        do {
            _ = try Self.parse(text)
            Issue.record("accepted \(text.debugDescription)")
        } catch {
            #expect(error.code == .invalidDirective)
            #expect(error.message.hasPrefix(message), "\(error.message)")
            #expect(error.line == line)
        }
    }

    @Test func unknownDirectivesTakeEitherForm() throws {
        _ = try Self.parse("no_such_directive a { b; }\nno_such_directive a;\n")
        _ = try Self.parse("upstream u { server 10.0.0.1:80; }\nstream { upstream s { server 10.0.0.1:80; } }")
    }

    /// A name defined both ways must be decided by `DirectiveTable.isBlock`; a new one needs a rule there.
    @Test func onlyServerDependsOnContext() {
        #expect(DirectiveTable.contextDependentNames == ["server"])
        #expect(DirectiveTable.isBlock("server", parentName: "upstream") == false)
        #expect(DirectiveTable.isBlock("server", parentName: "http") == true)
        #expect(DirectiveTable.isBlock("sendfile", parentName: "http") == false)
        #expect(DirectiveTable.isBlock("no_such_directive", parentName: "http") == nil)
    }

    @Test func unterminatedQuoteNamesTheEndAndTheOpening() {
        do {
            _ = try Self.parse("a {\n  b \"c;\n}\n")
            Issue.record("accepted")
        } catch {
            #expect(error.line == 4)
            #expect(error.message.contains("opened at line 2"))
            #expect(error.message.contains("  b \"c;"))
        }
    }
}
