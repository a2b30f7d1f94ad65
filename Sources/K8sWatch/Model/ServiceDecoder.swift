import FoundationEssentials

/// Decodes ServiceLists, watch event lines and Status bodies into the model, keeping only the
/// watched names (`names == nil` keeps every Service). Errors are `K8sError(.badResponse)` naming
/// what was being read and where the JSON went wrong.
struct ServiceDecoder: Sendable {
    struct List: Sendable {
        var resourceVersion: String
        var services: [String: ServiceInfo]
        var continueToken: String?
    }

    private let decoder: JSONDecoder
    private let names: Set<String>?

    init(names: Set<String>?) {
        self.names = names
        decoder = JSONDecoder()
        decoder.userInfo[ServiceNameFilter.key] = ServiceNameFilter(names: names)
    }

    /// A `ServiceList` body; `source` (the URL path) goes into the error message.
    func list(_ bytes: [UInt8], source: String) throws(K8sError) -> List {
        if let names, let list = scannedList(bytes, names: names) { return list }
        return try decodedList(bytes, source: source)
    }

    /// The full decoder: every item is parsed. Its errors say where the JSON went wrong.
    func decodedList(_ bytes: [UInt8], source: String) throws(K8sError) -> List {
        let wire: WireServiceList
        do {
            wire = try decoder.decode(WireServiceList.self, from: Data(bytes))
        } catch {
            throw K8sError(code: .badResponse,
                           message: "malformed ServiceList from \(source): \(Self.describe(error)); \(Self.excerpt(bytes))")
        }
        guard let resourceVersion = wire.metadata.resourceVersion, !resourceVersion.isEmpty else {
            throw K8sError(code: .badResponse,
                           message: "ServiceList from \(source) has no metadata.resourceVersion; is the server a Kubernetes API server?")
        }
        var services: [String: ServiceInfo] = [:]
        for item in wire.items {
            if let info = item.info { services[info.name] = info }
        }
        return List(resourceVersion: resourceVersion, services: services,
                    continueToken: wire.metadata.continueToken.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// The fast path: scan the list, decode only the watched items. nil when in doubt.
    func scannedList(_ bytes: [UInt8], names: Set<String>) -> List? {
        // Invalid UTF-8 is JSONDecoder's to reject; the scanner would carry it into the resourceVersion.
        // Validated in place: a String of the body would be a second copy of it (3 MB for 5,000 Services).
        guard (try? UTF8Span(validating: bytes.span)) != nil else { return nil }
        let wanted = Set(names.map { Array($0.utf8) })
        return bytes.withUnsafeBufferPointer { buffer -> List? in
            guard let scan = try? ListScanner(buffer, wanted: { wanted.contains($0) }),
                  let version = scan.resourceVersion, !version.isEmpty else { return nil }
            var services: [String: ServiceInfo] = [:]
            for item in scan.items {
                guard let wire = try? decoder.decode(WireService.self, from: Data(buffer[item.range])) else { return nil }
                if let info = wire.info { services[info.name] = info }
            }
            return List(resourceVersion: String(decoding: version, as: UTF8.self), services: services,
                        continueToken: scan.continueToken.flatMap { $0.isEmpty ? nil : String(decoding: $0, as: UTF8.self) })
        }
    }

    /// One line of a watch stream, without its '\n'.
    func event(_ line: [UInt8], source: String) throws(K8sError) -> WatchEvent {
        do {
            return try decoder.decode(WatchEvent.self, from: Data(line))
        } catch {
            throw K8sError(code: .badResponse,
                           message: "malformed watch event from \(source): \(Self.describe(error)); \(Self.excerpt(line))")
        }
    }

    /// A Status body, or nil when the bytes are not one (a plain-text 429, an HTML proxy page).
    static func status(_ bytes: [UInt8]) -> APIStatus? {
        guard let status = try? JSONDecoder().decode(APIStatus.self, from: Data(bytes)),
              status.code != nil || status.message != nil else { return nil }
        return status
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func at(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "" : " at " + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let context): return context.debugDescription + at(context.codingPath)
        case .keyNotFound(let key, let context): return "missing '\(key.stringValue)'" + at(context.codingPath)
        case .typeMismatch(let type, let context): return "expected \(type)" + at(context.codingPath)
        case .valueNotFound(let type, let context): return "null where \(type) was expected" + at(context.codingPath)
        @unknown default: return "\(error)"
        }
    }

    static func excerpt(_ bytes: [UInt8]) -> String {
        let head = String(decoding: bytes.prefix(120), as: UTF8.self)
        return "it starts with '\(head)'" + (bytes.count > 120 ? "…" : "")
    }
}

extension K8sError {
    /// The error a Status (an error body or a watch ERROR event) stands for. `context` says what was
    /// being done ("watch /api/v1/namespaces/flowmaster/services").
    init(status: APIStatus, httpStatus: Int?, context: String) {
        let number = status.code ?? httpStatus
        var code = number.map(Self.code(forHTTPStatus:)) ?? .badResponse
        if status.reason == "Expired" || status.reason == "Gone" { code = .gone }
        let detail = status.message ?? status.reason ?? number.map { "HTTP \($0)" } ?? "unknown failure"
        self.init(code: code, message: "\(context): \(detail)", httpStatus: number,
                  retryAfter: status.retryAfterSeconds.map { .seconds($0) })
    }

    static func code(forHTTPStatus status: Int) -> Code {
        switch status {
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 408, 504: .timeout
        case 410: .gone
        case 429: .tooManyRequests
        case 500...599: .server
        default: .badResponse
        }
    }
}

/// Decoding alone, without the transfer: for k8swatch-bench's figures, not for the daemon.
@_spi(Bench) public func decodeServiceList(_ body: [UInt8], names: Set<String>) throws(K8sError) -> ServiceSnapshot {
    let list = try ServiceDecoder(names: names).list(body, source: "benchmark")
    return ServiceSnapshot(services: list.services, resourceVersion: list.resourceVersion)
}
