import Testing
@testable import NginxConf

@Suite struct ParserTests {
    static let accepted: [String] = [
        "", " ", "\n", "# only a comment", "a;", "a b c;", "a { }", "a {}\r\n", "events {}\n",
        "a \"q;{}\" 'x\\'y';", "a x};", "a ${var}x;", "a \\;b;", "a b # c\n ;", "if ($a = \"b\") { }",
        "a\tb\r\n{\r\n\tc;\r\n}", "x_by_lua_block { if a then b = {} end -- } \n s = \"}\" }",
        "s $${a};", "a \"\";", "a\\\nb;",
    ]

    @Test(arguments: accepted)
    func roundTrips(_ text: String) throws {
        let bytes = Array(text.utf8)
        #expect(try ConfigFile.parse(bytes, path: "t.conf").printed() == bytes)
    }

    @Test func tokensFollowNginx() throws {
        let file = try ConfigFile.parse(Array("a x} ${v}w \"q\\\"s\" 'p' b\\ c \\t;".utf8), path: "t")
        let args = file.directives[0].arguments
        #expect(args.map(\.value) == ["x}", "${v}w", "q\"s", "p", "b\\ c", "\t"])
        #expect(args.map(\.isQuoted) == [false, false, true, true, false, false])
        #expect(args[2].raw == Array("\"q\\\"s\"".utf8))
        #expect(args[1].column == 6)
    }

    @Test func closingParenthesisMayFollowAQuote() throws {
        let file = try ConfigFile.parse(Array("if ($a = \"b\") { return 403; }".utf8), path: "t")
        #expect(file.directives[0].arguments.map(\.value) == ["($a", "=", "b", ")"])
        #expect(file.directives[0].children?.first?.name == "return")
    }

    @Test func directivesCarryPositionsAndRanges() throws {
        let text = "server {\n  listen 80;\n  location /a/ {\n    proxy_pass http://1.2.3.4;\n  }\n}\n"
        let file = try ConfigFile.parse(Array(text.utf8), path: "t")
        let server = file.directives[0]
        #expect(server.byteRange == 0..<(text.utf8.count - 1))
        let location = server.children![1]
        #expect(location.line == 3 && location.column == 3)
        let proxy = location.children![0]
        #expect(proxy.line == 4 && proxy.column == 5)
        let slice = Array(text.utf8)[proxy.byteRange]
        #expect(String(decoding: slice, as: UTF8.self) == "proxy_pass http://1.2.3.4;")
        #expect(proxy.children == nil)
    }

    @Test func luaBodyIsOpaque() throws {
        let text = "location / { content_by_lua_block { local t = { a = '}' } -- }\n ngx.say([[}]]) }\n return 200; }"
        let file = try ConfigFile.parse(Array(text.utf8), path: "t")
        let children = file.directives[0].children!
        #expect(children.map(\.name) == ["content_by_lua_block", "return"])
        #expect(children[0].children?.isEmpty == true)
    }

    @Test func deepNestingThrowsInsteadOfCrashing() throws {
        let deep = Array(String(repeating: "a {", count: 10_000).utf8)
        #expect(throws: NginxConfError.self) { try ConfigFile.parse(deep, path: "t") }
        let fine = Array((String(repeating: "a {\n", count: 150) + String(repeating: "}\n", count: 150)).utf8)
        #expect(try ConfigFile.parse(fine, path: "t").printed() == fine)
    }

    @Test func invalidUTF8SurvivesInCommentsAndStrings() throws {
        let bytes: [UInt8] = Array("# ".utf8) + [0xE9, 0xFF, 0x0A] + Array("a \"".utf8) + [0xC3, 0x28] + Array("\";".utf8)
        #expect(try ConfigFile.parse(bytes, path: "t").printed() == bytes)
    }

    struct SyntaxCase: Sendable, CustomStringConvertible {
        var text: String, code: NginxConfError.Code, line: Int, column: Int, lineText: String
        var description: String { "\(code)" }
    }

    static let syntaxErrors: [SyntaxCase] = [
        .init(text: "a {\n}\n}\n", code: .unexpectedCloseBrace, line: 3, column: 1, lineText: "}"),
        .init(text: "server {\n  listen 80;\n", code: .unexpectedEnd, line: 3, column: 1, lineText: ""),
        .init(text: "a {\n  b c", code: .unexpectedEnd, line: 2, column: 6, lineText: "  b c"),
        .init(text: "a {\n  b \"c;\n}\n", code: .unterminatedQuote, line: 4, column: 1, lineText: ""),
        .init(text: "a {\n  b c\n}\n", code: .missingSemicolon, line: 3, column: 1, lineText: "}"),
        .init(text: "a {\n  ;\n}\n", code: .unexpectedSemicolon, line: 2, column: 3, lineText: "  ;"),
        .init(text: "a {\r\n  {}\r\n}\r\n", code: .unexpectedOpenBrace, line: 2, column: 3, lineText: "  {}"),
        .init(text: "a \"b\"c;", code: .invalidDirective, line: 1, column: 6, lineText: "a \"b\"c;"),
        .init(text: "server {\n location /x;\n}", code: .invalidDirective, line: 2, column: 13, lineText: " location /x;"),
        .init(text: "server {\n location /x\n;\n}", code: .invalidDirective, line: 3, column: 1, lineText: ";"),
        .init(text: "sendfile on\n\n{ }", code: .invalidDirective, line: 3, column: 1, lineText: "{ }"),
        .init(text: "map $a $b {\n a {\n}", code: .unexpectedOpenBrace, line: 2, column: 4, lineText: " a {"),
        .init(text: "a {\n # " + String(repeating: "x", count: 4094) + "\n}", code: .tooLong, line: 2, column: 2,
              lineText: " # " + String(repeating: "x", count: 4094)),
        .init(text: "x_by_lua_block {\n  a = '}'\n", code: .unexpectedEnd, line: 3, column: 1, lineText: ""),
    ]

    @Test(arguments: syntaxErrors)
    func syntaxErrorsSayWhere(_ c: SyntaxCase) {
        #expect(throws: NginxConfError.self) { try ConfigFile.parse(Array(c.text.utf8), path: "site.conf") }
        do {
            _ = try ConfigFile.parse(Array(c.text.utf8), path: "site.conf")
        } catch {
            #expect(error.code == c.code)
            #expect(error.line == c.line)
            #expect(error.column == c.column)
            #expect(error.lineText == c.lineText)
            #expect(error.file == "site.conf")
            #expect(error.description.hasPrefix("site.conf:\(c.line):\(c.column): "))
        }
    }

    @Test func messagesUseNginxWording() {
        do {
            _ = try ConfigFile.parse(Array("a {\n}\n}".utf8), path: "f")
        } catch {
            #expect(error.message.hasPrefix("unexpected \"}\""))
        }
        do {
            _ = try ConfigFile.parse(Array("a {\n".utf8), path: "f")
        } catch {
            #expect(error.message.hasPrefix("unexpected end of file, expecting \"}\""))
        }
    }
}
