/// A Service's address for template mode: the ClusterIP (unbracketed, also for IPv6) and the Service port.
public struct TemplateValue: Sendable, Equatable {
    public var ip: String
    public var port: Int

    public init(ip: String, port: Int) {
        self.ip = ip
        self.port = port
    }

    /// `ip:port`, or `[ip]:port` for an IPv6 address.
    var address: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

/// Fills a template: `{{ name }}` → `ip:port` (`[ip]:port` for IPv6), `{{ name.ip }}` → the bare ip,
/// `{{ name.port }}` → the port. Spaces inside the braces are optional; a tag ends on its own line.
/// Every byte outside the tags is kept as it is.
/// Errors (with line and column of the `{{`): `unclosedTemplateTag`, `unknownTemplateName` (an unknown
/// name, which lists the known ones, an unknown field, or a tag that is not a name).
public func renderTemplate(_ template: [UInt8], path: String, values: [String: TemplateValue]) throws(NginxConfError) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(template.count)
    var index = 0, copied = 0
    var line = 1, lineStart = 0
    while index + 1 < template.count {
        let byte = template[index]
        if byte == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
            index += 1
            continue
        }
        guard byte == UInt8(ascii: "{"), template[index + 1] == UInt8(ascii: "{") else {
            index += 1
            continue
        }
        let place = TemplatePlace(template: template, path: path, line: line, lineStart: lineStart, tagStart: index)
        guard let close = tagEnd(template, from: index + 2) else {
            throw place.error(.unclosedTemplateTag, "'{{' is not closed by '}}' on the same line")
        }
        out += template[copied..<index]
        out += Array(try substitute(template[(index + 2)..<close], values: values, place: place).utf8)
        index = close + 2
        copied = index
    }
    out += template[copied...]
    return out
}

/// The index of the `}}` that closes a tag, or nil when the line ends first.
private func tagEnd(_ bytes: [UInt8], from start: Int) -> Int? {
    var index = start
    while index + 1 < bytes.count, bytes[index] != UInt8(ascii: "\n") {
        if bytes[index] == UInt8(ascii: "}"), bytes[index + 1] == UInt8(ascii: "}") { return index }
        index += 1
    }
    return nil
}

private func substitute(_ inner: ArraySlice<UInt8>, values: [String: TemplateValue], place: TemplatePlace) throws(NginxConfError) -> String {
    let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
    let trimmed = inner.drop(while: isSpace).reversed().drop(while: isSpace).reversed()
    let text = String(decoding: trimmed, as: UTF8.self)
    let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    let name = String(parts[0])
    guard !name.isEmpty, name.utf8.allSatisfy(isLabelByte) else {
        throw place.error(.unknownTemplateName,
                          "'{{\(String(decoding: inner, as: UTF8.self))}}' is not a template tag: "
                          + "write {{ service }}, {{ service.ip }} or {{ service.port }} with a Service name")
    }
    guard let value = values[name] else {
        let known = values.keys.sorted().joined(separator: ", ")
        throw place.error(.unknownTemplateName,
                          "unknown Service '\(name)' in template; known: \(known.isEmpty ? "(none)" : known)")
    }
    guard parts.count == 2 else { return value.address }
    switch parts[1] {
    case "ip": return value.ip
    case "port": return String(value.port)
    default:
        throw place.error(.unknownTemplateName,
                          "unknown field '.\(parts[1])' of '\(name)' in template; use .ip or .port, or no field for ip:port")
    }
}

/// Service names are DNS labels.
private func isLabelByte(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
        || byte == UInt8(ascii: "-")
}

/// Where a tag starts, for error messages.
private struct TemplatePlace {
    var template: [UInt8], path: String, line: Int, lineStart: Int, tagStart: Int

    func error(_ code: NginxConfError.Code, _ message: String) -> NginxConfError {
        var lineEnd = lineStart
        while lineEnd < template.count, template[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
        var text = template[lineStart..<lineEnd]
        if text.last == UInt8(ascii: "\r") { text = text.dropLast() }
        return NginxConfError(code: code, file: path, line: line, column: tagStart - lineStart + 1,
                              lineText: String(decoding: text, as: UTF8.self), message: message)
    }
}
