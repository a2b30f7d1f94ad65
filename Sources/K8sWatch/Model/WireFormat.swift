import FoundationEssentials

// Decodable shapes of the API's JSON. Each decodes only the fields ipsyncd uses: the rest of a
// Service (labels, selectors, status, managedFields) is skipped, which keeps memory low.

/// `metadata` of any object: only what the watch needs.
struct WireMetadata: Decodable {
    var name: String?
    var resourceVersion: String?
    var continueToken: String?

    enum CodingKeys: String, CodingKey { case name, resourceVersion, continueToken = "continue" }
}

/// The names whose `spec` is decoded; every other Service keeps only its metadata.
struct ServiceNameFilter: Sendable {
    var names: Set<String>?
    static let key = CodingUserInfoKey(rawValue: "ipsyncd.serviceNames")!
}

/// A Service as found in a list's `items` or a watch event's `object`.
struct WireService: Decodable {
    var metadata: WireMetadata
    /// nil when the name is not watched, or when the object has no name (a BOOKMARK).
    var info: ServiceInfo?

    private enum CodingKeys: String, CodingKey { case metadata, spec }
    private enum SpecKeys: String, CodingKey { case type, clusterIP, clusterIPs, ports, externalName }
    private struct Port: Decodable {
        var name: String?
        var port: Int
        var `protocol`: String?
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decodeIfPresent(WireMetadata.self, forKey: .metadata) ?? WireMetadata()
        let filter = decoder.userInfo[ServiceNameFilter.key] as? ServiceNameFilter
        guard let name = metadata.name, filter?.names?.contains(name) ?? true,
              container.contains(.spec) else {
            info = nil
            return
        }
        let spec = try container.nestedContainer(keyedBy: SpecKeys.self, forKey: .spec)
        let ports = try spec.decodeIfPresent([Port].self, forKey: .ports) ?? []
        let clusterIP = try spec.decodeIfPresent(String.self, forKey: .clusterIP)
        info = ServiceInfo(
            name: name,
            type: try spec.decodeIfPresent(String.self, forKey: .type) ?? "ClusterIP",
            clusterIP: clusterIP.flatMap { $0.isEmpty ? nil : $0 },
            // Servers older than dual-stack (1.20) send only clusterIP.
            clusterIPs: try spec.decodeIfPresent([String].self, forKey: .clusterIPs),
            ports: ports.map { ServicePort(name: $0.name, port: $0.port, protocolName: $0.protocol ?? "TCP") },
            externalName: try spec.decodeIfPresent(String.self, forKey: .externalName))
    }
}

/// A `ServiceList`: its resourceVersion and the (watched) Services.
struct WireServiceList: Decodable {
    var metadata: WireMetadata
    var items: [WireService]

    private enum CodingKeys: String, CodingKey { case metadata, items }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decodeIfPresent(WireMetadata.self, forKey: .metadata) ?? WireMetadata()
        items = try container.decodeIfPresent([WireService].self, forKey: .items) ?? []
    }
}

/// A `Status` object: an error body, or the object of a watch ERROR event.
struct APIStatus: Decodable, Sendable {
    var code: Int?
    var reason: String?
    var message: String?
    var retryAfterSeconds: Int?

    private enum CodingKeys: String, CodingKey { case code, reason, message, details }
    private enum DetailKeys: String, CodingKey { case retryAfterSeconds }

    init(code: Int?, reason: String?, message: String?, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decodeIfPresent(Int.self, forKey: .code)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        message = try container.decodeIfPresent(String.self, forKey: .message)
        if container.contains(.details) {
            let details = try container.nestedContainer(keyedBy: DetailKeys.self, forKey: .details)
            retryAfterSeconds = try details.decodeIfPresent(Int.self, forKey: .retryAfterSeconds)
        }
    }
}

/// One line of a watch stream.
struct WatchEvent: Sendable {
    enum Kind: String, Sendable { case added = "ADDED", modified = "MODIFIED", deleted = "DELETED",
                                       bookmark = "BOOKMARK", error = "ERROR" }
    var kind: Kind
    /// The object's resourceVersion (nil for ERROR).
    var resourceVersion: String?
    /// The object's name (nil for BOOKMARK and ERROR).
    var name: String?
    /// The Service's model when its name is watched (ADDED, MODIFIED, DELETED).
    var service: ServiceInfo?
    /// The Status of an ERROR event.
    var status: APIStatus?
}

extension WatchEvent: Decodable {
    private enum CodingKeys: String, CodingKey { case type, object }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        guard let kind = Kind(rawValue: type) else {
            throw DecodingError.dataCorruptedError(forKey: .type, in: container,
                                                   debugDescription: "unknown watch event type '\(type)'")
        }
        self.kind = kind
        if kind == .error {
            status = try container.decode(APIStatus.self, forKey: .object)
            return
        }
        let object = try container.decode(WireService.self, forKey: .object)
        resourceVersion = object.metadata.resourceVersion
        name = object.metadata.name
        service = kind == .bookmark ? nil : object.info
    }
}
