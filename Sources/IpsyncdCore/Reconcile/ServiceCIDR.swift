import Glibc

/// One block of the `service_cidr` setting, `10.43.0.0/16` or `fd00:43::/112`: a ClusterIP outside every
/// block is refused (docs/design.md §7.3).
package struct ServiceCIDR: Sendable, Hashable, CustomStringConvertible {
    let network: [UInt8]
    let prefix: Int
    package let description: String

    /// nil when `text` is not ADDRESS/PREFIX with a prefix that fits the address family.
    package init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let bytes = ServiceCIDR.bytes(String(parts[0])),
              parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber), !parts[1].isEmpty,
              let prefix = Int(parts[1]), prefix <= bytes.count * 8 else { return nil }
        network = ServiceCIDR.masked(bytes, prefix)
        self.prefix = prefix
        description = text
    }

    package func contains(_ ip: String) -> Bool {
        guard let bytes = ServiceCIDR.bytes(ip), bytes.count == network.count else { return false }
        return ServiceCIDR.masked(bytes, prefix) == network
    }

    /// The 4 or 16 bytes of an IP literal.
    static func bytes(_ text: String) -> [UInt8]? {
        guard ServiceAddress.isIPLiteral(text) else { return nil }
        let isIPv6 = text.contains(":")
        var buffer = [UInt8](repeating: 0, count: 16)
        guard inet_pton(isIPv6 ? AF_INET6 : AF_INET, text, &buffer) == 1 else { return nil }
        return Array(buffer.prefix(isIPv6 ? 16 : 4))
    }

    private static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, prefix - index * 8))
            return bits == 0 ? 0 : byte & UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
    }
}

extension ServiceAddress {
    /// Why `ip` (a valid literal) can never be a Service's ClusterIP, or nil: nginx would connect somewhere else
    /// entirely (0.0.0.0 is this host), or nowhere.
    static func neverAClusterIP(_ ip: String) -> String? {
        guard let bytes = ServiceCIDR.bytes(ip) else { return nil }
        if bytes.allSatisfy({ $0 == 0 }) { return "unspecified" }
        if bytes.count == 4 {
            if bytes.allSatisfy({ $0 == 255 }) { return "broadcast" }
            if bytes[0] & 0xF0 == 224 { return "multicast" }
        } else {
            if bytes[0] == 0xFF { return "multicast" }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return "IPv4-mapped" }
        }
        return nil
    }
}
