/// A place in the file whose bytes are an address ipsyncd may rewrite.
public struct ProxyTarget: Sendable, Equatable {
    package enum Kind: Sendable, Equatable { case proxyPass, upstreamServer(upstream: String) }
    package var kind: Kind
    /// The route's location argument, e.g. "/api/"; for a stray target, the enclosing location's ("" outside any).
    public var route: String
    /// The current host[:port] text exactly as in the file, e.g. "10.43.0.12:9000", "[fd00::7]:80".
    public var address: String
    /// The bytes of `address` in the file.
    package var byteRange: Range<Int>
    /// "http" or "https", of the proxy_pass that leads here.
    package var scheme: String
    public var line: Int
    package var column: Int
}

/// A route's new address: "ip:port", IPv6 as "[ip]:port", already validated by the caller.
public struct RouteEdit: Sendable, Equatable {
    public var route: String
    public var address: String
    public init(route: String, address: String) {
        self.route = route
        self.address = address
    }
}

/// One target whose bytes changed.
public struct TargetChange: Sendable, Equatable {
    public var route: String
    public var old: String
    public var new: String
    public var line: Int
    package init(route: String, old: String, new: String, line: Int) {
        self.route = route
        self.old = old
        self.new = new
        self.line = line
    }
}

public struct RewriteResult: Sendable {
    /// The new file bytes; equal to the input when nothing changed.
    public var bytes: [UInt8]
    /// One per target whose bytes changed.
    public var changes: [TargetChange]
    /// Routes that could not be rewritten; the other routes still are.
    public var errors: [NginxConfError]
}
