@testable import IpsyncdCore
import Foundation
import K8sWatch
import NginxConf
import Testing
import TestSupport

/// The Services as the flowmaster site fixture expects them (Tests/Fixtures/config/flowmaster.conf).
func flowmasterSnapshot(_ changes: [String: ServiceInfo?] = [:]) -> ServiceSnapshot {
    var services: [String: ServiceInfo] = [
        "frontend-nextjs": ServiceInfo(name: "frontend-nextjs", clusterIP: "10.43.0.10", ports: [ServicePort(name: "http", port: 3000)]),
        "api-gateway": ServiceInfo(name: "api-gateway", clusterIP: "10.43.0.12", ports: [ServicePort(name: "http", port: 9000)]),
        "websocket-gateway": ServiceInfo(name: "websocket-gateway", clusterIP: "10.43.0.14", ports: [ServicePort(name: nil, port: 8080)]),
    ]
    for (name, service) in changes { services[name] = service }
    return ServiceSnapshot(services: services, resourceVersion: "1")
}

func flowmasterSite() throws -> [UInt8] { try readBytes(fixturePath("config/flowmaster.conf")) }

@Suite struct ReconcilerTests {
    let sitePath = "/etc/nginx/sites-enabled/flowmaster"

    private func plan(_ snapshot: ServiceSnapshot, routes: [Route] = Route.defaults, site: [UInt8]? = nil,
                      template: [UInt8]? = nil) throws -> Plan {
        Reconciler.plan(snapshot: snapshot, routes: routes, site: try site ?? flowmasterSite(), sitePath: sitePath,
                        template: template)
    }

    private func replacing(_ bytes: [UInt8], _ old: String, _ new: String) -> [UInt8] {
        Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
    }

    @Test func inSyncMeansNoChangeAndNoDiff() throws {
        let plan = try plan(flowmasterSnapshot())
        #expect(!plan.hasChanges && plan.diff.isEmpty && plan.errors.isEmpty && plan.failure == nil)
        #expect(plan.outcomes.map(\.status) == [.unchanged, .unchanged, .unchanged])
        #expect(plan.outcomes.map(\.inSync) == [true, true, true])
        #expect(plan.outcomes[0].fileAddresses == ["10.43.0.10:3000"])
    }

    @Test func aRecreatedServiceChangesOnlyItsAddressBytes() throws {
        let snapshot = flowmasterSnapshot(["api-gateway": ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3",
                                                                      ports: [ServicePort(name: "http", port: 9000)])])
        let plan = try plan(snapshot)
        let site = try flowmasterSite()
        // Every api-gateway target (the upstream server and the proxy_pass), and the stray /admin/ one stays.
        var expected = String(decoding: site, as: UTF8.self)
        expected = expected.replacingOccurrences(of: "server 10.43.0.12:9000 max_fails", with: "server 10.43.7.3:9000 max_fails")
        expected = expected.replacingOccurrences(of: "proxy_pass http://10.43.0.12:9000;", with: "proxy_pass http://10.43.7.3:9000;")
        #expect(plan.newBytes == Array(expected.utf8))
        let api = plan.outcomes[1]
        #expect(api.status == .changed && api.location == "/api/" && api.service == "api-gateway")
        #expect(api.old == "10.43.0.12:9000" && api.new == "10.43.7.3:9000")
        #expect(plan.outcomes[0].status == .unchanged && plan.outcomes[2].status == .unchanged)
        let diff = String(decoding: plan.diff, as: UTF8.self)
        #expect(diff.hasPrefix("--- \(sitePath)\n+++ \(sitePath)\n"))
        #expect(diff.contains("-        proxy_pass http://10.43.0.12:9000;\n+        proxy_pass http://10.43.7.3:9000;\n"))
    }

    @Test(arguments: [
        ("absent", nil as ServiceInfo?, "api-gateway is absent (deleted?); keeping 10.43.0.12:9000"),
        ("headless", ServiceInfo(name: "api-gateway", clusterIP: "None", ports: [ServicePort(name: "http", port: 9000)]),
         "api-gateway is headless (clusterIP: None); keeping 10.43.0.12:9000"),
        ("externalName", ServiceInfo(name: "api-gateway", type: "ExternalName", clusterIP: nil, ports: [],
                                     externalName: "api.example.com"),
         "api-gateway is an ExternalName Service (api.example.com), it has no ClusterIP; keeping 10.43.0.12:9000"),
        ("noClusterIP", ServiceInfo(name: "api-gateway", clusterIP: nil, ports: [ServicePort(name: "http", port: 9000)]),
         "api-gateway has no ClusterIP yet; keeping"),
        ("emptyClusterIP", ServiceInfo(name: "api-gateway", clusterIP: "", ports: [ServicePort(name: "http", port: 9000)]),
         "api-gateway has no ClusterIP yet; keeping"),
        ("noPorts", ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3", ports: []), "api-gateway has no ports; keeping"),
        ("twoPorts", ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3",
                                 ports: [ServicePort(name: "http", port: 9000), ServicePort(name: "metrics", port: 9100)]),
         "api-gateway has 2 ports (http=9000, metrics=9100); name one in the route, such as /api/=api-gateway:http; keeping"),
    ])
    func aServiceWithoutAUsableAddressKeepsItsRoute(label: String, service: ServiceInfo?, reason: String) throws {
        let plan = try plan(flowmasterSnapshot(["api-gateway": service]))
        #expect(!plan.hasChanges, "\(label)")
        let api = plan.outcomes[1]
        #expect(api.status == .kept && !api.inSync)
        #expect(api.reason?.hasPrefix(reason) == true, "\(api.reason ?? "nil")")
        #expect(api.old == "10.43.0.12:9000" && api.new == "10.43.0.12:9000")
        #expect(plan.errors.isEmpty)
    }

    @Test func aMissingPortNumberOrNameKeepsTheRoute() throws {
        let two = ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3",
                              ports: [ServicePort(name: "http", port: 9000), ServicePort(name: "metrics", port: 9100)])
        let snapshot = flowmasterSnapshot(["api-gateway": two])
        let byNumber = try plan(snapshot, routes: [Route(location: "/api/", service: "api-gateway", port: .number(8080))])
        #expect(byNumber.outcomes[0].status == .kept)
        #expect(byNumber.outcomes[0].reason?.hasPrefix("api-gateway has no port 8080 (ports: http=9000, metrics=9100)") == true)
        let byName = try plan(snapshot, routes: [Route(location: "/api/", service: "api-gateway", port: .name("grpc"))])
        #expect(byName.outcomes[0].reason?.hasPrefix("api-gateway has no port named grpc") == true)
    }

    @Test func namedAndNumberedPortsPickTheServicePortNeverTheTargetPort() throws {
        let two = ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3",
                              ports: [ServicePort(name: "http", port: 9000), ServicePort(name: "metrics", port: 9100)])
        let snapshot = flowmasterSnapshot(["api-gateway": two])
        for port in [PortRef.name("http"), .number(9000)] {
            let plan = try plan(snapshot, routes: [Route(location: "/api/", service: "api-gateway", port: port)])
            #expect(plan.outcomes[0].status == .changed && plan.outcomes[0].new == "10.43.7.3:9000")
        }
        // TCP and UDP on the same number are one address.
        let dual = ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3",
                               ports: [ServicePort(name: "dns", port: 9000), ServicePort(name: "dns-udp", port: 9000, protocolName: "UDP")])
        let plan = try plan(flowmasterSnapshot(["api-gateway": dual]), routes: [Route(location: "/api/", service: "api-gateway", port: .number(9000))])
        #expect(plan.outcomes[0].new == "10.43.7.3:9000")
    }

    static let hostileClusterIPs = [
        "10.0.0.1;", "1.2.3.4 } server {", "10.0.0.256", "::1%eth0", "[fd00::1]", " 10.0.0.1", "10.0.0.1\n",
        "10.0.0.1:80", "0x7f.0.0.1", "010.0.0.1", "1.2.3", "10.0.0.1/24", "fd00::1 ", "fd00:::1", "localhost",
        "10.0.0.1\u{0}", "１０.0.0.1", "10.0.0.1#", "${host}", "\"10.0.0.1\"",
    ]

    @Test(arguments: hostileClusterIPs)
    func aHostileClusterIPNeverReachesTheFile(value: String) throws {
        let service = ServiceInfo(name: "api-gateway", clusterIP: value, ports: [ServicePort(name: "http", port: 9000)])
        let plan = try plan(flowmasterSnapshot(["api-gateway": service]))
        #expect(!plan.hasChanges)
        #expect(plan.outcomes[1].status == .kept)
        #expect(plan.outcomes[1].reason?.contains("has a ClusterIP that is not an IP address") == true)
        #expect(plan.outcomes[1].reason?.contains("\n") == false)
    }

    @Test func anIPv6ClusterIPIsWrittenInBrackets() throws {
        let service = ServiceInfo(name: "websocket-gateway", clusterIP: "fd00:10:43::7", ports: [ServicePort(name: nil, port: 8080)])
        let plan = try plan(flowmasterSnapshot(["websocket-gateway": service]))
        #expect(plan.outcomes[2].status == .changed && plan.outcomes[2].new == "[fd00:10:43::7]:8080")
        let text = String(decoding: plan.newBytes, as: UTF8.self)
        #expect(text.contains("proxy_pass http://[fd00:10:43::7]:8080;"))
        #expect(!text.contains("10.43.0.14"))
        // And back: the bracketed file address is seen as in sync.
        let again = Reconciler.plan(snapshot: flowmasterSnapshot(["websocket-gateway": service]), routes: Route.defaults,
                                    site: plan.newBytes, sitePath: sitePath, template: nil)
        #expect(!again.hasChanges && again.outcomes[2].status == .unchanged)
    }

    @Test func aRouteErrorLeavesTheOtherRoutesSyncing() throws {
        let routes = Route.defaults + [Route(location: "/missing/", service: "api-gateway")]
        let snapshot = flowmasterSnapshot(["frontend-nextjs": ServiceInfo(name: "frontend-nextjs", clusterIP: "10.43.9.9",
                                                                          ports: [ServicePort(name: "http", port: 3000)])])
        let plan = try plan(snapshot, routes: routes)
        #expect(plan.outcomes[0].status == .changed)
        #expect(plan.outcomes[3].status == .error)
        #expect(plan.outcomes[3].reason?.contains("/missing/") == true)
        #expect(plan.errors.count == 1 && plan.errors[0].contains(sitePath))
        #expect(plan.failure == nil && plan.hasChanges)
    }

    @Test func aVariableProxyPassIsARouteError() throws {
        let site = Array("server {\n  location / { proxy_pass http://10.43.0.10:3000; }\n  location /api/ { proxy_pass http://$backend; }\n}\n".utf8)
        let plan = try plan(flowmasterSnapshot(["frontend-nextjs": ServiceInfo(name: "frontend-nextjs", clusterIP: "10.43.9.9",
                                                                               ports: [ServicePort(name: "http", port: 3000)])]),
                            routes: Array(Route.defaults.prefix(2)), site: site)
        #expect(plan.outcomes[0].status == .changed && plan.outcomes[1].status == .error)
        #expect(String(decoding: plan.newBytes, as: UTF8.self).contains("http://10.43.9.9:3000;"))
    }

    @Test func aStrayTargetIsAWarningNamingTheService() throws {
        let plan = try plan(flowmasterSnapshot())
        #expect(plan.warnings.count == 1)
        let warning = try #require(plan.warnings.first)
        #expect(warning.contains("\(sitePath):44"), "\(warning)")
        #expect(warning.contains("10.43.0.12:9000 (api-gateway)") && warning.contains("/admin/"), "\(warning)")
        #expect(warning.contains("add a route for it (--route /admin/=api-gateway)"))
    }

    @Test func anUnparsableSiteIsAFailureAndNothingChanges() throws {
        let site = Array("server {\n  location / { proxy_pass http://10.43.0.10:3000; }\n".utf8)
        let plan = try plan(flowmasterSnapshot(), site: site)
        #expect(plan.failure?.contains("cannot parse the site file") == true)
        #expect(!plan.hasChanges && plan.outcomes.allSatisfy { $0.status == .error })
    }

    @Test func aTargetWithoutAPortIsInSyncWithPort80() throws {
        let site = Array("server {\n  location / { proxy_pass http://10.43.0.10; }\n}\n".utf8)
        let web = ServiceInfo(name: "frontend-nextjs", clusterIP: "10.43.0.10", ports: [ServicePort(name: "http", port: 80)])
        let routes = [Route(location: "/", service: "frontend-nextjs")]
        let same = try plan(flowmasterSnapshot(["frontend-nextjs": web]), routes: routes, site: site)
        #expect(!same.hasChanges && same.outcomes[0].status == .unchanged)
        let moved = ServiceInfo(name: "frontend-nextjs", clusterIP: "10.43.0.11", ports: [ServicePort(name: "http", port: 80)])
        let changed = try plan(flowmasterSnapshot(["frontend-nextjs": moved]), routes: routes, site: site)
        #expect(String(decoding: changed.newBytes, as: UTF8.self) == "server {\n  location / { proxy_pass http://10.43.0.11; }\n}\n")
        #expect(Reconciler.sameAddress("10.43.0.10", ServiceAddress(ip: "10.43.0.10", port: 443)))
        #expect(!Reconciler.sameAddress("10.43.0.10", ServiceAddress(ip: "10.43.0.10", port: 8080)))
        #expect(Reconciler.sameAddress("[fd00::1]", ServiceAddress(ip: "fd00::1", port: 80)))
    }

    @Test func hostsAreTakenFromAddresses() {
        #expect(Reconciler.host(of: "10.0.0.1:80") == "10.0.0.1")
        #expect(Reconciler.host(of: "[fd00::1]:80") == "fd00::1")
        #expect(Reconciler.host(of: "10.0.0.1") == "10.0.0.1")
        #expect(Reconciler.host(of: "fd00::1") == "fd00::1")
    }

    // MARK: template mode

    private let template = Array("""
        server {
            location / { proxy_pass http://{{ frontend-nextjs }}; }
            location /api/ { proxy_pass http://{{ api-gateway.ip }}:{{ api-gateway.port }}; }
            location /ws/ { proxy_pass http://{{ websocket-gateway }}; }
        }

        """.utf8)

    @Test func templateModeRendersEveryRoute() throws {
        let site = Array("# bootstrap\n".utf8)
        let plan = try plan(flowmasterSnapshot(), site: site, template: template)
        let text = String(decoding: plan.newBytes, as: UTF8.self)
        #expect(text.contains("proxy_pass http://10.43.0.10:3000;") && text.contains("http://10.43.0.12:9000;")
                && text.contains("http://10.43.0.14:8080;"))
        #expect(plan.outcomes.map(\.status) == [.changed, .changed, .changed])
        let again = Reconciler.plan(snapshot: flowmasterSnapshot(), routes: Route.defaults, site: plan.newBytes,
                                    sitePath: sitePath, template: template)
        #expect(!again.hasChanges && again.outcomes.map(\.status) == [.unchanged, .unchanged, .unchanged])
    }

    @Test func templateModeKeepsTheFileWhenAServiceHasNoAddress() throws {
        let site = Array("# current\n".utf8)
        let plan = try plan(flowmasterSnapshot(["api-gateway": nil]), site: site, template: template)
        #expect(!plan.hasChanges && plan.failure == nil)
        #expect(plan.outcomes.allSatisfy { $0.status == .kept })
        #expect(plan.outcomes[1].reason?.hasPrefix("api-gateway is absent (deleted?)") == true)
        #expect(plan.outcomes[0].reason?.contains("api-gateway is absent") == true)
    }

    @Test func anUnknownTemplateNameIsAFailure() throws {
        let plan = try plan(flowmasterSnapshot(), site: Array("x\n".utf8), template: Array("{{ nope }}\n".utf8))
        #expect(plan.failure?.contains("cannot render the template") == true && !plan.hasChanges)
    }

    // MARK: property

    @Test func randomSnapshotsOnlyEverChangeTargetBytes() throws {
        let site = try flowmasterSite()
        let original = try ConfigFile.parse(site, path: sitePath)
        var random = SplitMix64(seed: 20_261_127)
        let values = Self.hostileClusterIPs + ["10.43.0.12", "10.43.7.3", "fd00::7", "::ffff:10.0.0.1", "None", "",
                                               "255.255.255.255", "0.0.0.0", "fd00:0:0:0:0:0:0:1"]
        for round in 0..<300 {
            var services: [String: ServiceInfo] = [:]
            for route in Route.defaults where random.next() % 5 != 0 {
                let ip = values[Int(random.next() % UInt64(values.count))]
                let portCount = Int(random.next() % 3)
                let ports = (0..<portCount).map { ServicePort(name: $0 == 0 ? "http" : "p\($0)", port: Int(random.next() % 70_000)) }
                services[route.service] = ServiceInfo(name: route.service, type: random.next() % 7 == 0 ? "ExternalName" : "ClusterIP",
                                                      clusterIP: random.next() % 9 == 0 ? nil : ip, ports: ports)
            }
            let plan = Reconciler.plan(snapshot: ServiceSnapshot(services: services, resourceVersion: "\(round)"),
                                       routes: Route.defaults, site: site, sitePath: sitePath, template: nil)
            let rewritten = try ConfigFile.parse(plan.newBytes, path: sitePath)
            #expect(rewritten.printed() == plan.newBytes)
            let before = try Self.targetRanges(original), after = try Self.targetRanges(rewritten)
            #expect(before.count == after.count)
            #expect(Self.outside(before, of: site) == Self.outside(after, of: plan.newBytes), "round \(round)")
            for outcome in plan.outcomes where outcome.status == .changed {
                #expect(outcome.live.map { ServiceAddress.isIPLiteral($0.ip) } == true)
            }
        }
    }

    static func targetRanges(_ file: ConfigFile) throws -> [Range<Int>] {
        try Route.defaults.flatMap { try file.targets(route: $0.location).get().map(\.byteRange) }
            .sorted { $0.lowerBound < $1.lowerBound }
    }

    static func outside(_ ranges: [Range<Int>], of bytes: [UInt8]) -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        var start = 0
        for range in ranges where range.lowerBound >= start {
            pieces.append(Array(bytes[start..<range.lowerBound]))
            start = range.upperBound
        }
        pieces.append(Array(bytes[start...]))
        return pieces
    }
}
