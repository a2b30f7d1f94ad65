/// One port of a Service: `spec.ports[]` without `targetPort` or `nodePort` (ipsyncd writes `port`).
public struct ServicePort: Sendable, Hashable {
    public var name: String?
    public var port: Int
    /// TCP, UDP or SCTP (`protocol` in the API; TCP when absent).
    public var protocolName: String

    package init(name: String?, port: Int, protocolName: String = "TCP") {
        self.name = name
        self.port = port
        self.protocolName = protocolName
    }
}

/// What ipsyncd keeps of a Service: the fields that decide its address, nothing more.
public struct ServiceInfo: Sendable, Hashable {
    public var name: String
    /// ClusterIP, NodePort, LoadBalancer or ExternalName.
    public var type: String
    /// "None" for a headless Service, nil for ExternalName.
    public var clusterIP: String?
    /// Every family's ClusterIP, the primary first (dual-stack has two).
    public var clusterIPs: [String]
    public var ports: [ServicePort]
    public var externalName: String?

    package init(name: String, type: String = "ClusterIP", clusterIP: String?, clusterIPs: [String]? = nil,
                ports: [ServicePort], externalName: String? = nil) {
        self.name = name
        self.type = type
        self.clusterIP = clusterIP
        self.clusterIPs = clusterIPs ?? clusterIP.map { [$0] } ?? []
        self.ports = ports
        self.externalName = externalName
    }
}

/// The watched Services at one resourceVersion.
public struct ServiceSnapshot: Sendable, Equatable {
    /// Only the watched names; a deleted (or not yet created) Service is absent.
    public var services: [String: ServiceInfo]
    public var resourceVersion: String
    /// When the event that made this snapshot was decoded (CLOCK_MONOTONIC ns; 0 when not from a watch): the
    /// first instant of a resync's trace. Not part of equality.
    public var receivedAt: UInt64

    package init(services: [String: ServiceInfo], resourceVersion: String, receivedAt: UInt64 = 0) {
        self.services = services
        self.resourceVersion = resourceVersion
        self.receivedAt = receivedAt
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.services == rhs.services && lhs.resourceVersion == rhs.resourceVersion
    }
}
