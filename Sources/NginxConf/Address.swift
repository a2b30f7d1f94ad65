/// The address part of a `proxy_pass` URL or an upstream `server` argument, located in the file.
struct AddressSpan {
    var range: Range<Int>       // host[:port] bytes in the file
    var host: String            // without brackets
    var bracketed: Bool         // an IPv6 literal in brackets
    var hasPort: Bool
}

enum ParsedTarget {
    case address(scheme: String, AddressSpan)
    case upstream(scheme: String, name: String)
}

/// Why an argument cannot be a target; turned into an error with the directive's position.
struct TargetProblem: Error {
    var code: NginxConfError.Code
    var message: String
}

/// The argument's bytes without quotes, and the file offset of the first of them.
private func unquoted(_ argument: Argument) -> (bytes: ArraySlice<UInt8>, offset: Int) {
    argument.isQuoted
        ? (argument.raw.dropFirst().dropLast(), argument.byteRange.lowerBound + 1)
        : (argument.raw[...], argument.byteRange.lowerBound)
}

/// `scheme://host[:port][/uri]` of a proxy_pass argument; the host is an IP literal or an upstream name.
func parseProxyPass(_ argument: Argument, upstreamExists: (String) -> Bool) throws(TargetProblem) -> ParsedTarget {
    let (bytes, offset) = unquoted(argument)
    if bytes.contains(UInt8(ascii: "$")) {
        throw TargetProblem(code: .variableInProxyPass,
                            message: "proxy_pass \"\(argument.value)\" uses a variable, so ipsyncd cannot tell its address: write the address literally")
    }
    guard let separator = find(schemeSeparator, in: bytes) else {
        throw TargetProblem(code: .unsupportedTarget,
                            message: "proxy_pass \"\(argument.value)\" has no scheme: write it as http://ADDRESS:PORT")
    }
    let scheme = String(decoding: bytes[bytes.startIndex..<separator], as: UTF8.self).lowercased()
    guard scheme == "http" || scheme == "https" else {
        throw TargetProblem(code: .unsupportedTarget,
                            message: "proxy_pass scheme \"\(scheme)\" is not supported: use http:// or https://")
    }
    let rest = bytes[(separator + 3)...]
    if rest.starts(with: "unix:".utf8) {
        throw TargetProblem(code: .unsupportedTarget,
                            message: "proxy_pass to a unix socket has no Service address: proxy to the Service's ClusterIP, or remove the route")
    }
    let span = try hostAndPort(rest, fileOffset: offset - bytes.startIndex, what: "proxy_pass \"\(argument.value)\"")
    if isIPAddress(span) { return .address(scheme: scheme, span) }
    if !span.bracketed, upstreamExists(span.host) {
        return .upstream(scheme: scheme, name: span.host)
    }
    throw TargetProblem(code: .unsupportedTarget,
                        message: "proxy_pass host \"\(span.host)\" is neither an IP address nor an upstream in this file: write the Service's ClusterIP, or define \"upstream \(span.host) { server IP:PORT; }\"")
}

/// The address argument of an upstream's `server` line: `IP[:port]`.
func parseUpstreamServer(_ argument: Argument, upstream: String) throws(TargetProblem) -> AddressSpan {
    let (bytes, offset) = unquoted(argument)
    if bytes.starts(with: "unix:".utf8) {
        throw TargetProblem(code: .unsupportedTarget,
                            message: "upstream \"\(upstream)\" points at a unix socket, which has no Service address: use the Service's ClusterIP")
    }
    let span = try hostAndPort(bytes, fileOffset: offset - bytes.startIndex, what: "upstream \"\(upstream)\" server")
    guard isIPAddress(span) else {
        throw TargetProblem(code: .unsupportedTarget,
                            message: "upstream \"\(upstream)\" server \"\(span.host)\" is not an IP address: write the Service's ClusterIP")
    }
    return span
}

/// Splits `host[:port]` at the start of `bytes` (IPv6 in brackets), stopping at `/` or `?`.
/// `fileOffset` maps an index of `bytes` to a file offset.
/// `what` names the argument in errors; built only when one is thrown.
private func hostAndPort(_ bytes: ArraySlice<UInt8>, fileOffset: Int,
                         what: @autoclosure () -> String) throws(TargetProblem) -> AddressSpan {
    var i = bytes.startIndex
    let hostStart: Int, hostEnd: Int, bracketed: Bool
    if i < bytes.endIndex, bytes[i] == UInt8(ascii: "[") {
        guard let close = bytes[i...].firstIndex(of: UInt8(ascii: "]")) else {
            throw TargetProblem(code: .unsupportedTarget, message: "\(what()): an IPv6 address misses its \"]\"")
        }
        hostStart = i + 1; hostEnd = close; i = close + 1; bracketed = true
    } else {
        while i < bytes.endIndex, !isAddressEnd(bytes[i]), bytes[i] != UInt8(ascii: ":") { i += 1 }
        hostStart = bytes.startIndex; hostEnd = i; bracketed = false
    }
    var hasPort = false
    if i < bytes.endIndex, bytes[i] == UInt8(ascii: ":") {
        hasPort = true
        i += 1
        while i < bytes.endIndex, !isAddressEnd(bytes[i]) { i += 1 }
    }
    let host = String(decoding: bytes[hostStart..<hostEnd], as: UTF8.self)
    guard !host.isEmpty else { throw TargetProblem(code: .unsupportedTarget, message: "\(what()) has no host") }
    return AddressSpan(range: (bytes.startIndex + fileOffset)..<(i + fileOffset), host: host,
                       bracketed: bracketed, hasPort: hasPort)
}

private func isAddressEnd(_ c: UInt8) -> Bool { c == UInt8(ascii: "/") || c == UInt8(ascii: "?") }

private func isIPAddress(_ span: AddressSpan) -> Bool {
    span.bracketed ? isIPv6(span.host) : isIPv4(span.host)
}

/// Four dot-separated groups of 1 to 3 ASCII digits, each at most 255. Checked on the UTF-8 bytes:
/// a non-ASCII byte is never a digit, so this agrees with a check of the `Character`s, at a fraction of the cost.
func isIPv4(_ text: String) -> Bool {
    var parts = 0, digits = 0, value = 0
    for c in text.utf8 {
        if c == UInt8(ascii: ".") {
            guard digits > 0 else { return false }
            parts += 1; digits = 0; value = 0
        } else if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
            digits += 1
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            guard digits <= 3, value <= 255 else { return false }
        } else {
            return false
        }
    }
    return parts == 3 && digits > 0
}

/// Contains a `:` and nothing but `:`, `.` and ASCII hex digits (checked on the UTF-8 bytes).
func isIPv6(_ text: String) -> Bool {
    var colon = false
    for c in text.utf8 {
        switch c {
        case UInt8(ascii: ":"): colon = true
        case UInt8(ascii: "."), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
             UInt8(ascii: "A")...UInt8(ascii: "F"):
            continue
        default: return false
        }
    }
    return colon
}

private let schemeSeparator = Array("://".utf8)

private func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    var i = haystack.startIndex
    while i <= haystack.endIndex - needle.count {
        if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}

/// `new` ("ip:port" or "[ip]:port") written in the style of `old`: portless when `old` has no port
/// and the new port is the default one.
func renderAddress(new: String, oldHasPort: Bool, defaultPort: Int) -> String {
    var host = new, port: String?
    if new.hasPrefix("["), let close = new.firstIndex(of: "]") {
        host = String(new[...close])
        let after = new[new.index(after: close)...]
        if after.hasPrefix(":") { port = String(after.dropFirst()) }
    } else if new.filter({ $0 == ":" }).count == 1, let colon = new.firstIndex(of: ":") {
        host = String(new[..<colon]); port = String(new[new.index(after: colon)...])
    } else if new.contains(":") {
        host = "[\(new)]"  // a bare IPv6 address
    }
    guard let port else { return host }
    return !oldHasPort && port == String(defaultPort) ? host : "\(host):\(port)"
}
