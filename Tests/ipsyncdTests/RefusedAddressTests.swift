@testable import IpsyncdCore
import Foundation
import K8sWatch
import Testing
import TestSupport

/// Addresses that can never be a ClusterIP, addresses outside `service_cidr` and ports that are not TCP are
/// kept with a reason, like an invalid address. Before, 0.0.0.0, ::, 255.255.255.255, multicast and
/// ::ffff:a.b.c.d were written (nginx connects to this host for 0.0.0.0) and a UDP port was a target.
@Suite struct RefusedAddressTests {
    private func plan(_ service: ServiceInfo, cidrs: [String] = []) throws -> Plan {
        Reconciler.plan(snapshot: flowmasterSnapshot([service.name: service]), routes: Route.defaults,
                        site: try flowmasterSite(), sitePath: "/etc/nginx/sites-enabled/flowmaster", template: nil,
                        serviceCIDRs: cidrs.compactMap(ServiceCIDR.init))
    }

    @Test(arguments: [("0.0.0.0", "unspecified"), ("::", "unspecified"), ("0:0:0:0:0:0:0:0", "unspecified"),
                      ("255.255.255.255", "broadcast"), ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
                      ("ff02::1", "multicast"), ("::ffff:1.2.3.4", "IPv4-mapped"), ("::ffff:10.43.0.12", "IPv4-mapped")])
    func anAddressThatCanNeverBeAClusterIPIsKept(ip: String, why: String) throws {
        let service = ServiceInfo(name: "api-gateway", clusterIP: ip, ports: [ServicePort(name: "http", port: 9000)])
        let plan = try plan(service)
        #expect(!plan.hasChanges)
        #expect(plan.outcomes[1].status == .kept)
        #expect(plan.outcomes[1].reason?.contains("has a ClusterIP that can never be one (\(ip) is \(why))") == true,
                "\(plan.outcomes[1].reason ?? "")")
    }

    @Test(arguments: ["10.43.7.3", "223.255.255.254", "240.0.0.1", "fd00::7", "::1.2.3.4", "2001:db8::ffff:1.2.3.4"])
    func ordinaryAddressesAreStillWritten(ip: String) throws {
        let service = ServiceInfo(name: "api-gateway", clusterIP: ip, ports: [ServicePort(name: "http", port: 9000)])
        #expect(try plan(service).outcomes[1].status == .changed)
    }

    @Test func anAddressOutsideServiceCIDRIsKept() throws {
        let inside = ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3", ports: [ServicePort(name: "http", port: 9000)])
        #expect(try plan(inside, cidrs: ["10.43.0.0/16"]).outcomes[1].status == .changed)
        let outside = ServiceInfo(name: "api-gateway", clusterIP: "10.44.0.3", ports: [ServicePort(name: "http", port: 9000)])
        let refused = try plan(outside, cidrs: ["10.43.0.0/16", "fd00:43::/112"])
        #expect(refused.outcomes[1].status == .kept && !refused.hasChanges)
        #expect(refused.outcomes[1].reason?.contains("outside service_cidr (10.44.0.3 is not in 10.43.0.0/16, fd00:43::/112)") == true)
        let v6 = ServiceInfo(name: "api-gateway", clusterIP: "fd00:43::9", ports: [ServicePort(name: "http", port: 9000)])
        #expect(try plan(v6, cidrs: ["10.43.0.0/16", "fd00:43::/112"]).outcomes[1].status == .changed)
    }

    @Test func aPortThatIsNotTCPIsKept() throws {
        let udp = ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3", ports: [ServicePort(name: "http", port: 9000, protocolName: "UDP")])
        let plan = try plan(udp)
        #expect(plan.outcomes[1].status == .kept)
        #expect(plan.outcomes[1].reason?.contains("api-gateway port 9000 is UDP, not TCP") == true, "\(plan.outcomes[1].reason ?? "")")
        // The same number over TCP and UDP (DNS-style) is the TCP port.
        let both = ServiceInfo(name: "api-gateway", clusterIP: "10.43.7.3",
                               ports: [ServicePort(name: "dns-udp", port: 53, protocolName: "UDP"), ServicePort(name: "dns-tcp", port: 53)])
        let route = Route(location: "/api/", service: "api-gateway", port: .number(53))
        #expect(ServiceAddress.resolve(route, in: flowmasterSnapshot(["api-gateway": both])).map(\.port) == .success(53))
    }

    @Test func cidrBlocksParseAndMatch() throws {
        let block = try #require(ServiceCIDR("10.43.0.0/16"))
        #expect(block.contains("10.43.255.1") && !block.contains("10.42.0.1") && !block.contains("fd00::1"))
        #expect(try #require(ServiceCIDR("10.43.1.7/16")).contains("10.43.9.9"))   // host bits are ignored
        #expect(try #require(ServiceCIDR("0.0.0.0/0")).contains("192.0.2.1"))
        for bad in ["10.43.0.0", "10.43.0.0/33", "fd00::/129", "10.43.0.0/", "/16", "10.43.0.0/1a", "x/8"] {
            #expect(ServiceCIDR(bad) == nil, "\(bad)")
        }
    }

    @Test func serviceCIDRIsASettingOfTheFileAndTheFlags() throws {
        let layer = try SettingsFileParser.parse(yaml: "service_cidr: [10.43.0.0/16, 'fd00:43::/112']\n", source: "x")
        var settings = Settings()
        settings.apply(layer)
        #expect(settings.serviceCIDRs.map(\.description) == ["10.43.0.0/16", "fd00:43::/112"])
        var flags = SettingsOverrides()
        flags["service_cidr"] = "10.43.0.0/16,10.44.0.0/16"
        let flagged = try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent")
        #expect(flagged.serviceCIDRs.count == 2)
        flags["service_cidr"] = "10.43.0.0"
        #expect(throws: ConfigError.self) { try Settings.load(configPath: nil, overrides: flags, defaultConfigPath: "/nonexistent") }
    }
}

/// Through the real binary and the test API server: `ipsyncd sync` keeps the address and says why.
@Suite("Refused addresses through ipsyncd sync", .serialized)
struct RefusedAddressEndToEndTests {
    @Test func syncKeepsTheAddressAndSaysWhy() async throws {
        try await blocking {
            let world = try Flowmaster()
            let before = world.siteBytes
            let apiPort = world.backends["api-gateway"]!.port
            let cases: [(String, () throws -> Void, [String], String)] = [
                ("0.0.0.0", { try world.api.update("api-gateway", clusterIP: "0.0.0.0") }, [],
                 "api-gateway has a ClusterIP that can never be one (0.0.0.0 is unspecified)"),
                ("::ffff:127.0.0.1", { try world.api.update("api-gateway", clusterIP: "::ffff:127.0.0.1") }, [],
                 "(::ffff:127.0.0.1 is IPv4-mapped)"),
                ("UDP", { try world.api.update("api-gateway", clusterIP: "127.0.0.1",
                                                ports: [.init(name: "http", port: apiPort, protocolName: "UDP")]) }, [],
                 "is UDP, not TCP"),
                ("outside", { try world.api.update("api-gateway", clusterIP: "127.0.0.1",
                                                    ports: [.init(name: "http", port: apiPort)]) }, ["--service-cidr", "10.43.0.0/16"],
                 "outside service_cidr (127.0.0.1 is not in 10.43.0.0/16)"),
            ]
            for (name, change, flags, reason) in cases {
                try change()
                let result = try world.command("sync", flags)
                #expect(world.siteBytes == before, "\(name): the site file changed")
                #expect(result.stderr.contains(reason), "\(name): \(result.stderr)")
                #expect(result.stderr.contains("kept"), "\(name): \(result.stderr)")
            }
        }
    }
}
