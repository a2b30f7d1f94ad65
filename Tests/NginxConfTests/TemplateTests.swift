import Foundation
import Testing
import NginxConf
import TestSupport

@Suite struct TemplateTests {
    let values: [String: TemplateValue] = [
        "api-gateway": TemplateValue(ip: "10.43.0.12", port: 9000),
        "frontend-nextjs": TemplateValue(ip: "10.43.0.5", port: 3000),
        "websocket-gateway": TemplateValue(ip: "fd00::7", port: 8080),
    ]

    func render(_ text: String) throws(NginxConfError) -> String {
        String(decoding: try renderTemplate(Array(text.utf8), path: "site.tmpl", values: values), as: UTF8.self)
    }

    @Test func addressIPAndPortTags() throws {
        #expect(try render("proxy_pass http://{{ api-gateway }};") == "proxy_pass http://10.43.0.12:9000;")
        #expect(try render("{{ api-gateway.ip }} {{ api-gateway.port }}") == "10.43.0.12 9000")
    }

    @Test func ipv6AddressIsBracketedButBareIPIsNot() throws {
        #expect(try render("{{ websocket-gateway }}") == "[fd00::7]:8080")
        #expect(try render("{{ websocket-gateway.ip }}") == "fd00::7")
        #expect(try render("{{ websocket-gateway.port }}") == "8080")
    }

    @Test func spacesInsideBracesAreOptional() throws {
        #expect(try render("{{api-gateway}}|{{  api-gateway.port\t}}|{{api-gateway.ip }}") == "10.43.0.12:9000|9000|10.43.0.12")
    }

    @Test func bytesOutsideTagsAreKept() throws {
        let prefix: [UInt8] = Array("# caf".utf8) + [0xE9, 0xFF] + Array(" { } ${x} {\r\n\tproxy_pass http://".utf8)
        let suffix: [UInt8] = Array(";\r\n}{".utf8)
        let template = prefix + Array("{{ frontend-nextjs }}".utf8) + suffix
        let out = try renderTemplate(template, path: "t", values: values)
        #expect(out == prefix + Array("10.43.0.5:3000".utf8) + suffix)
        let plain = Array("no tags here { } }} {\n".utf8)
        #expect(try renderTemplate(plain, path: "t", values: [:]) == plain)
    }

    @Test func unknownNameListsKnownNamesSorted() {
        let error = #expect(throws: NginxConfError.self) {
            try render("server {\n    proxy_pass http://{{ api-gatewy }};\n}\n")
        }
        #expect(error?.code == .unknownTemplateName)
        #expect(error?.file == "site.tmpl")
        #expect(error?.line == 2)
        #expect(error?.column == 23)
        #expect(error?.lineText == "    proxy_pass http://{{ api-gatewy }};")
        #expect(error?.message.contains("'api-gatewy'") == true)
        #expect(error?.message.contains("api-gateway, frontend-nextjs, websocket-gateway") == true)
    }

    @Test func unknownFieldIsAnError() {
        let error = #expect(throws: NginxConfError.self) { try render("x\r\n  {{ api-gateway.host }}") }
        #expect(error?.code == .unknownTemplateName)
        #expect(error?.line == 2)
        #expect(error?.column == 3)
        #expect(error?.lineText == "  {{ api-gateway.host }}")
        #expect(error?.message.contains(".host") == true)
        #expect(error?.message.contains(".ip or .port") == true)
    }

    @Test(arguments: ["{{ }}", "{{ API-Gateway }}", "{{ api_gateway }}", "{{ api-gateway. }}", "{{ .ip }}"])
    func tagThatIsNotANameIsAnError(tag: String) {
        let error = #expect(throws: NginxConfError.self) { try render("a {{ api-gateway }} " + tag) }
        #expect(error?.code == .unknownTemplateName)
        #expect(error?.line == 1)
        #expect(error?.column == 21)
    }

    @Test func unclosedTagIsAnError() {
        let error = #expect(throws: NginxConfError.self) { try render("one\ntwo {{ api-gateway }\nthree }}\n") }
        #expect(error?.code == .unclosedTemplateTag)
        #expect(error?.line == 2)
        #expect(error?.column == 5)
        #expect(error?.lineText == "two {{ api-gateway }")
        let atEnd = #expect(throws: NginxConfError.self) { try render("x {{ api-gateway") }
        #expect(atEnd?.code == .unclosedTemplateTag)
        #expect(atEnd?.column == 3)
        #expect(atEnd?.description.hasPrefix("site.tmpl:1:3: ") == true)
    }

    /// The shipped template, rendered, is a site that real nginx accepts.
    @Test func flowmasterTemplatePassesNginxCheck() async throws {
        let nginx = try #require(findExecutable("nginx"), "nginx is needed (Debian nginx-light)")
        let template = try readBytes(repositoryRoot.appendingPathComponent("templates/flowmaster.conf.tmpl").path)
        let site = try renderTemplate(template, path: "templates/flowmaster.conf.tmpl", values: values)
        let text = String(decoding: site, as: UTF8.self)
        #expect(text.contains("proxy_pass http://10.43.0.5:3000;"))
        #expect(text.contains("proxy_pass http://10.43.0.12:9000;"))
        #expect(text.contains("proxy_pass http://[fd00::7]:8080;"))
        #expect(!text.contains("{{"))

        let dir = try TempDir("template-nginx")
        try dir.write("site.conf", site)
        let main = try dir.write("nginx.conf", """
            pid \(dir.file("nginx.pid"));
            error_log \(dir.file("error.log"));
            events {}
            http {
                access_log off;
                include site.conf;
            }

            """)
        let check = try await blocking { try runProcess(nginx, ["-t", "-p", dir.path + "/", "-e", dir.file("error.log"), "-c", main]) }
        #expect(check.status == 0, "nginx -t: \(check.stderr)")
    }
}
