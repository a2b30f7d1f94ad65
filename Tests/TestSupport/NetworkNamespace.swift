import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A network namespace of the test's own, joined to this one by a veth pair with a /30 of
/// 10.201.0.0/16 that only these two ends use: a server started inside (`TestAPIServer(netns:)`) is
/// reached through a real network path, which `blackhole(port:)` makes drop every packet of one TCP
/// port (no RST, no FIN: a firewall drop or a host that went away) until `heal()`. Needs root and
/// `ip netns`; the namespace, the veth pair and the rules are removed by `remove()` or deinit.
public final class NetworkNamespace: @unchecked Sendable {
    public let name: String
    /// This side's address (in the test's namespace) and the namespace's.
    public let outside: String
    public let inside: String
    private let vethOutside: String
    private var removed = false

    /// Whether this process may create namespaces: root, and `ip netns` works.
    public static let isAvailable: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: ip) else { return false }
        return (try? runProcess(ip, ["netns", "list"]))?.status == 0
    }()

    static let ip = "/usr/sbin/ip"

    /// `label` goes into the names (branch name or test), with a random suffix.
    public init(label: String) throws {
        let suffix = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        name = "\(label)-\(suffix)"
        vethOutside = "vo\(suffix)"
        let vethInside = "vi\(suffix)"
        let net = "10.201.\(Int.random(in: 0...255)).\(Int.random(in: 0...63) * 4)"
        let base = net.split(separator: ".").map { Int($0)! }
        outside = "\(base[0]).\(base[1]).\(base[2]).\(base[3] + 1)"
        inside = "\(base[0]).\(base[1]).\(base[2]).\(base[3] + 2)"
        do {
            try Self.run(["netns", "add", name])
            try Self.run(["link", "add", vethOutside, "type", "veth", "peer", "name", vethInside])
            try Self.run(["link", "set", vethInside, "netns", name])
            try Self.run(["addr", "add", "\(outside)/30", "dev", vethOutside])
            try Self.run(["link", "set", vethOutside, "up"])
            try inNamespace([Self.ip, "addr", "add", "\(inside)/30", "dev", vethInside])
            try inNamespace([Self.ip, "link", "set", vethInside, "up"])
            try inNamespace([Self.ip, "link", "set", "lo", "up"])
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// Drops every packet to and from TCP `port` inside the namespace (both directions, silently).
    public func blackhole(port: Int) throws {
        for rule in Self.rules(port: port) { try inNamespace(["iptables", "-I"] + rule) }
    }

    /// Removes what `blackhole(port:)` added.
    public func heal(port: Int) throws {
        for rule in Self.rules(port: port) { try inNamespace(["iptables", "-D"] + rule) }
    }

    private static func rules(port: Int) -> [[String]] {
        [["INPUT", "-p", "tcp", "--dport", String(port), "-j", "DROP"],
         ["OUTPUT", "-p", "tcp", "--sport", String(port), "-j", "DROP"]]
    }

    /// Deletes the namespace (its end of the veth pair goes with it, and so does ours). Idempotent.
    public func remove() {
        if removed { return }
        removed = true
        _ = try? runProcess(Self.ip, ["link", "del", vethOutside])
        _ = try? runProcess(Self.ip, ["netns", "del", name])
    }

    private func inNamespace(_ command: [String]) throws {
        try Self.run(["netns", "exec", name] + command)
    }

    private static func run(_ arguments: [String]) throws {
        let result = try runProcess(ip, arguments)
        guard result.status == 0 else {
            throw SandboxError("ip \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr)")
        }
    }
}
