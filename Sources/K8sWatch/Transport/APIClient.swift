import Foundation

/// The Kubernetes API over libcurl. Each request gets its own curl handle and runs on a thread of
/// its own (blocking I/O never occupies the cooperative pool); token files and exec plugins are
/// consulted at every connect.
package final class APIClient: Sendable {
    let credentials: ClusterCredentials
    package let timeouts: APITimeouts
    /// A whole LIST body larger than this is refused rather than held in memory.
    let bodyLimit = 512 << 20

    package init(credentials: ClusterCredentials, timeouts: APITimeouts = APITimeouts()) {
        self.credentials = credentials
        self.timeouts = timeouts
    }

    /// GET, whole body. Non-2xx → K8sError with the Status message, the HTTP status and Retry-After.
    package func get(_ path: String, query: [(String, String)]) async throws(K8sError) -> [UInt8] {
        let url = Self.url(server: credentials.server, path: path, query: query)
        let transfer = CurlTransfer()
        let result = await onOwnThread(transfer) { self.fetch(transfer, url: url) }
        return try result.get()
    }

    /// Streaming GET for watches (the `ServiceAPI` contract): returns once the answer's head is known.
    package func stream(_ path: String, query: [(String, String)], idleTimeout: Duration)
        async throws(K8sError) -> AsyncThrowingStream<[UInt8], any Error> {
        let url = Self.url(server: credentials.server, path: path, query: query)
        let transfer = CurlTransfer()
        let (lines, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        continuation.onTermination = { _ in transfer.cancel() }
        let head = await withTaskCancellationHandler {
            await withCheckedContinuation { (head: CheckedContinuation<Result<Void, K8sError>, Never>) in
                Self.startThread("k8s-watch") {
                    self.watch(transfer, url: url, idleTimeout: idleTimeout, head: head, lines: continuation)
                }
            }
        } onCancel: {
            transfer.cancel()
        }
        try head.get()
        return lines
    }

    private func onOwnThread<T: Sendable>(_ transfer: CurlTransfer, _ work: @escaping @Sendable () -> T) async -> T {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                Self.startThread("k8s-get") { continuation.resume(returning: work()) }
            }
        } onCancel: {
            transfer.cancel()
        }
    }

    /// A named thread (Linux threads otherwise inherit the name of the pool thread that made them).
    private static func startThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }

    private var setup: RequestSetup { RequestSetup(credentials: credentials, timeouts: timeouts) }
    private var errors: ResponseError { ResponseError(credentials: credentials, timeouts: timeouts) }

    /// Blocking; on the transfer's thread. A 401 re-runs an exec plugin and retries once. The whole
    /// request, credential plugin and retry included, ends by `timeouts.request`.
    private func fetch(_ transfer: CurlTransfer, url: String) -> Result<[UInt8], K8sError> {
        let display = Self.display(url)
        let end = ContinuousClock.now + timeouts.request
        defer { transfer.releaseHandlers() }
        for attempt in 0..<2 {
            do {
                try setup.configure(transfer, url: url, refreshExec: attempt > 0, deadline: end)
            } catch {
                return .failure(error)
            }
            var head: CurlTransfer.Head?
            var body: [UInt8] = []
            let limit = bodyLimit
            transfer.onHead = { received in
                head = received
                // One buffer of the announced size, not a doubling one: a 5,000-Service LIST otherwise holds the
                // old and the new buffer at once (docs/benchmarks.md, "What makes the peak").
                if let length = received.contentLength, length <= limit { body.reserveCapacity(length) }
            }
            transfer.onBody = { bytes in
                body.append(contentsOf: bytes)
                return body.count <= limit
            }
            let deadlines = CurlTransfer.Deadlines(headers: min(end, .now + timeouts.headers), end: end)
            let outcome = transfer.perform(idleTimeout: nil, deadlines: deadlines)
            guard outcome == .done, let head else {
                return .failure(errors.transfer(outcome, url: display, idleTimeout: nil))
            }
            if (200..<300).contains(head.status) {
                if let wrong = errors.notJSON(head, body: body, url: display, expected: "a JSON object") { return .failure(wrong) }
                return .success(body)
            }
            if head.status == 401, credentials.exec != nil, attempt == 0 { continue }
            return .failure(errors.status(head.status, retryAfter: head.retryAfter, body: body, url: display))
        }
        return .failure(K8sError(code: .unauthorized, message: "401 from \(display) after refreshing the exec credential"))
    }

    /// Blocking; on the transfer's thread. Resumes `head` exactly once: success at a 2xx head (before
    /// any line), else the error; then feeds `lines` until the body ends.
    private func watch(_ transfer: CurlTransfer, url: String, idleTimeout: Duration,
                       head: CheckedContinuation<Result<Void, K8sError>, Never>,
                       lines: AsyncThrowingStream<[UInt8], any Error>.Continuation) {
        let display = Self.display(url)
        defer { transfer.releaseHandlers() }
        var headSent = false
        func fail(_ error: K8sError) {
            if !headSent { headSent = true; head.resume(returning: .failure(error)) }
            lines.finish(throwing: error)
        }
        for attempt in 0..<2 {
            do {
                try setup.configure(transfer, url: url, refreshExec: attempt > 0)
            } catch {
                return fail(error)
            }
            var answer: CurlTransfer.Head?
            var streaming = false
            var errorBody: [UInt8] = []
            var splitter = LineSplitter()
            transfer.onHead = { received in
                answer = received
                // A 2xx that is not JSON (a proxy's login page) is no watch: it is read as an error body.
                if (200..<300).contains(received.status), ResponseError.isJSON(received.contentType), !headSent {
                    headSent = true
                    streaming = true
                    head.resume(returning: .success(()))
                }
            }
            transfer.onBody = { bytes in
                guard streaming else {
                    errorBody.append(contentsOf: bytes.prefix(max(0, 65536 - errorBody.count)))
                    return true
                }
                return splitter.feed(bytes) { lines.yield($0) }
            }
            let deadlines = CurlTransfer.Deadlines(headers: .now + timeouts.headers, end: nil)
            let outcome = transfer.perform(idleTimeout: idleTimeout, deadlines: deadlines)
            if headSent {
                switch outcome {
                case .done:
                    if let rest = splitter.remainder { lines.yield(rest) }
                    lines.finish()
                case .cancelled:
                    lines.finish()
                default:
                    lines.finish(throwing: errors.transfer(outcome, url: display, idleTimeout: idleTimeout))
                }
                return
            }
            guard outcome == .done, let answer else {
                return fail(errors.transfer(outcome, url: display, idleTimeout: idleTimeout))
            }
            if answer.status == 401, credentials.exec != nil, attempt == 0 { continue }
            if (200..<300).contains(answer.status) {
                return fail(errors.notJSON(answer, body: errorBody, url: display, expected: "a stream of JSON watch events")
                    ?? K8sError(code: .badResponse, message: "\(display) answered \(answer.status) without a watch stream"))
            }
            return fail(errors.status(answer.status, retryAfter: answer.retryAfter, body: errorBody, url: display))
        }
        fail(K8sError(code: .unauthorized, message: "401 from \(display) after refreshing the exec credential"))
    }

    static func url(server: String, path: String, query: [(String, String)]) -> String {
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        var url = base + (path.hasPrefix("/") ? path : "/" + path)
        if !query.isEmpty {
            url += "?" + query.map { "\(percentEncoded($0.0))=\(percentEncoded($0.1))" }.joined(separator: "&")
        }
        return url
    }

    /// The URL without its query, for messages.
    static func display(_ url: String) -> String {
        url.firstIndex(of: "?").map { String(url[..<$0]) } ?? url
    }

    private static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension APIClient: ServiceAPI {}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
