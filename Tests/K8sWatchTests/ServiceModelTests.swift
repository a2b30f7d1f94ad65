import Testing
import TestSupport
@testable import K8sWatch

@Suite struct ServiceModelTests {
    let decoder = ServiceDecoder(names: nil)

    func fixture(_ name: String) throws -> [UInt8] { try readBytes(fixturePath("k8s/\(name)")) }

    /// A Service fixture wrapped in an ADDED watch event, decoded.
    func service(_ name: String) throws -> ServiceInfo {
        let line = Array(#"{"type":"ADDED","object":"#.utf8) + (try fixture(name)) + Array("}".utf8)
        let event = try decoder.event(line, source: "test")
        return try #require(event.service)
    }

    @Test func listKeepsResourceVersionAndModels() throws {
        let list = try decoder.list(try fixture("servicelist.json"), source: "test")
        #expect(list.resourceVersion == "48213")
        #expect(list.continueToken == nil)
        #expect(list.services.count == 3)
        #expect(list.services["api-gateway"] == ServiceInfo(
            name: "api-gateway", type: "ClusterIP", clusterIP: "10.43.12.34", clusterIPs: ["10.43.12.34"],
            ports: [ServicePort(name: "http", port: 9000, protocolName: "TCP")]))
        #expect(list.services["frontend-nextjs"]?.ports == [ServicePort(name: nil, port: 3000)])
    }

    @Test func listKeepsOnlyWatchedNames() throws {
        let list = try ServiceDecoder(names: ["api-gateway", "absent"]).list(try fixture("servicelist.json"), source: "test")
        #expect(Array(list.services.keys) == ["api-gateway"])
        #expect(list.resourceVersion == "48213")
    }

    @Test func headlessKeepsNone() throws {
        let info = try service("service-headless.json")
        #expect(info.clusterIP == "None")
        #expect(info.clusterIPs == ["None"])
        #expect(info.ports == [ServicePort(name: "pg", port: 5432)])
    }

    @Test func externalNameHasNoClusterIP() throws {
        let info = try service("service-externalname.json")
        #expect(info.type == "ExternalName")
        #expect(info.clusterIP == nil)
        #expect(info.clusterIPs.isEmpty)
        #expect(info.externalName == "db.billing.example.com")
        #expect(info.ports.isEmpty)
    }

    @Test func dualStackKeepsBothFamiliesInOrder() throws {
        let info = try service("service-dualstack.json")
        #expect(info.clusterIP == "fd00:10:43::7")
        #expect(info.clusterIPs == ["fd00:10:43::7", "10.43.5.6"])
        #expect(info.ports == [ServicePort(name: "ws", port: 8080), ServicePort(name: "metrics", port: 9100)])
    }

    @Test func nodePortAndLoadBalancerKeepServicePortNotNodePort() throws {
        let nodePort = try service("service-nodeport.json")
        #expect(nodePort.type == "NodePort")
        #expect(nodePort.ports == [ServicePort(name: "web", port: 3000)])
        let balancer = try service("service-loadbalancer.json")
        #expect(balancer.type == "LoadBalancer")
        #expect(balancer.clusterIP == "10.43.1.1")
        #expect(balancer.ports == [ServicePort(name: "web", port: 80), ServicePort(name: "dns", port: 53, protocolName: "UDP")])
    }

    @Test func oldServerWithoutClusterIPsFallsBackToClusterIP() throws {
        let line = #"{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"7"},"spec":{"clusterIP":"10.0.0.1","ports":[{"port":80}]}}}"#
        let event = try decoder.event(Array(line.utf8), source: "test")
        #expect(event.service == ServiceInfo(name: "a", type: "ClusterIP", clusterIP: "10.0.0.1", clusterIPs: ["10.0.0.1"],
                                             ports: [ServicePort(name: nil, port: 80, protocolName: "TCP")]))
    }

    @Test func watchEventKinds() throws {
        let lines = try fixture("watch-events.jsonl").split(separator: UInt8(ascii: "\n")).map(Array.init)
        let events = try lines.map { try decoder.event($0, source: "test") }
        try #require(events.map(\.kind) == [.added, .modified, .deleted, .bookmark, .error])
        #expect(events.map(\.resourceVersion) == ["48300", "48301", "48302", "48350", nil])
        #expect(events[0].service?.clusterIP == "10.43.7.3")
        #expect(events[2].name == "api-gateway")
        #expect(events[3].name == nil && events[3].service == nil)
        let status = try #require(events[4].status)
        #expect(status.code == 410 && status.reason == "Expired")
        let error = K8sError(status: status, httpStatus: nil, context: "watch /x")
        #expect(error.code == .gone)
        #expect(error.message == "watch /x: too old resource version: 41000 (45000)")
    }

    @Test func unwatchedEventsKeepResourceVersionButNoModel() throws {
        let line = try fixture("watch-events.jsonl").split(separator: UInt8(ascii: "\n")).map(Array.init)[0]
        let event = try ServiceDecoder(names: ["other"]).event(line, source: "test")
        #expect(event.name == "api-gateway")
        #expect(event.resourceVersion == "48300")
        #expect(event.service == nil)
    }

    @Test func unknownFieldsAreIgnored() throws {
        let line = #"{"type":"ADDED","future":{"x":[1,2]},"object":{"kind":"Service","metadata":{"name":"a","resourceVersion":"9","newField":true},"spec":{"type":"ClusterIP","clusterIP":"10.0.0.2","clusterIPs":["10.0.0.2"],"trafficDistribution":"PreferClose","ports":[{"port":81,"protocol":"TCP","newPortField":"x"}]}}}"#
        let event = try decoder.event(Array(line.utf8), source: "test")
        #expect(event.service?.ports == [ServicePort(name: nil, port: 81)])
    }

    @Test func statusBodiesBecomeErrors() throws {
        let tooMany = try #require(ServiceDecoder.status(try fixture("status-429.json")))
        let error = K8sError(status: tooMany, httpStatus: 429, context: "list /x")
        #expect(error.code == .tooManyRequests)
        #expect(error.retryAfter == .seconds(3))
        #expect(error.httpStatus == 429)
        let forbidden = K8sError(status: try #require(ServiceDecoder.status(try fixture("status-403.json"))),
                                 httpStatus: 403, context: "watch /x")
        #expect(forbidden.code == .forbidden)
        #expect(forbidden.message.contains("cannot watch resource"))
        #expect(ServiceDecoder.status(Array("Too many requests, please try again later.".utf8)) == nil)
    }

    @Test(arguments: [
        (#"{"type":"ADDED","object":{"metadata":{"name":"a"},"spec":{"ports":[{"port":"80"}]}}}"#, "expected Int at object.spec.ports.[0].port"),
        (#"{"type":"ADDED","object":{"metadata":{"na"#, "it starts with"),
        (#"{"type":"RENAMED","object":{}}"#, "unknown watch event type 'RENAMED'"),
        (#"{"object":{}}"#, "missing 'type'"),
    ])
    func malformedLineIsAClearError(line: String, expected: String) throws {
        let error = #expect(throws: K8sError.self) { try decoder.event(Array(line.utf8), source: "/api/v1/namespaces/f/services") }
        #expect(error?.code == .badResponse)
        #expect(error?.message.hasPrefix("malformed watch event from /api/v1/namespaces/f/services: ") == true)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test func listWithoutResourceVersionIsRejected() throws {
        let error = #expect(throws: K8sError.self) {
            try decoder.list(Array(#"{"kind":"ServiceList","metadata":{},"items":[]}"#.utf8), source: "/s")
        }
        #expect(error?.message.contains("no metadata.resourceVersion") == true)
    }

    @Test func listWithoutItemsIsEmpty() throws {
        let list = try decoder.list(Array(#"{"metadata":{"resourceVersion":"5"},"items":null}"#.utf8), source: "/s")
        #expect(list.services.isEmpty)
    }

    // MARK: The list scanner (fast path) against the full decoder

    static let trickyList = #"""
        { "kind" : "ServiceList", "apiVersion":"v1", "items" : [
          {"metadata":{"annotations":{"note":"braces } ] { [ and \"quotes\" and \\ and \u00e9"},"name":"api","resourceVersion":"5"},
           "spec":{"ports":[{"port":80,"protocol":"TCP","weight":-1.5e3,"flag":true,"none":null}],"clusterIP":"10.0.0.1","clusterIPs":["10.0.0.1"],"type":"ClusterIP"},
           "status":{"loadBalancer":{}}},
          {"metadata":{"name":"skipped","labels":{}},"spec":{"clusterIP":"10.0.0.2","ports":[],"x":[[[]],{}]}},
          {"metadata":{"name":"nospec"}},
          {"metadata":{"name":"web"},"spec":{"clusterIP":"fd00::1","clusterIPs":["fd00::1","10.0.0.3"],"ports":[{"name":"h","port":8080}]}}
        ], "metadata" : {"continue":"","resourceVersion":"99"} }
        """#

    @Test(arguments: [Set<String>(), ["api"], ["api", "web", "nospec", "absent"], ["skipped"]])
    func scannerAgreesWithTheFullDecoder(names: Set<String>) throws {
        for body in [Array(Self.trickyList.utf8), try fixture("servicelist.json")] {
            let decoder = ServiceDecoder(names: names)
            let scanned = try #require(decoder.scannedList(body, names: names))
            let decoded = try decoder.decodedList(body, source: "test")
            #expect(scanned.resourceVersion == decoded.resourceVersion)
            #expect(scanned.services == decoded.services)
            #expect(scanned.continueToken == decoded.continueToken)
        }
    }

    @Test func scannerDefersToTheFullDecoderWhenInDoubt() throws {
        let decoder = ServiceDecoder(names: ["api"])
        let escapedName = #"{"metadata":{"resourceVersion":"3"},"items":[{"metadata":{"name":"a\u0070i"},"spec":{"clusterIP":"10.0.0.1"}}]}"#
        #expect(decoder.scannedList(Array(escapedName.utf8), names: ["api"]) == nil)
        #expect(try decoder.list(Array(escapedName.utf8), source: "test").services["api"]?.clusterIP == "10.0.0.1")
        for broken in [#"{"metadata":{"resourceVersion":"3"},"items":[{"metadata":{"name":"api"}"#,
                       #"{"metadata":{"resourceVersion":"3"},"items":[]} trailing"#,
                       #"{"metadata":{"resourceVersion":"3"},"items":[{"metadata":{"name":"api"},"spec":{"ports":[{"port":"80"}]}}]}"#] {
            #expect(decoder.scannedList(Array(broken.utf8), names: ["api"]) == nil)
            #expect(throws: K8sError.self) { try decoder.list(Array(broken.utf8), source: "test") }
        }
    }

    @Test func scannerHandlesANullItemList() throws {
        let body = Array(#"{"metadata":{"resourceVersion":"8"},"items":null}"#.utf8)
        let list = try #require(ServiceDecoder(names: ["api"]).scannedList(body, names: ["api"]))
        #expect(list.services.isEmpty && list.resourceVersion == "8")
    }
}
