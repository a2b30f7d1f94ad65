import CCurl
import Synchronization

/// `curl_global_init` exactly once, before the first handle (a lazy global is initialised once).
let curlGlobalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

/// Owner of one curl easy handle and the multi handle that drives it. Callbacks find it through
/// `Unmanaged.passUnretained(self)`; `perform` keeps it alive while curl may call back, and the
/// handles are freed in deinit. All callbacks run on the thread that calls `perform`; only
/// `cancel()` may be called from other threads.
///
/// Why a multi handle for one transfer: `curl_easy_perform` polls for up to a second and offers no
/// thread-safe way to interrupt it, while `curl_multi_wakeup` (thread-safe) interrupts
/// `curl_multi_poll` at once, so cancellation takes effect in well under 100 ms.
final class CurlTransfer: @unchecked Sendable {
    struct Head { var status: Int; var retryAfter: Duration?; var contentType: String? = nil; var contentLength: Int? = nil }

    /// When a transfer must have its headers, and when it must be over (nil: no such limit).
    struct Deadlines {
        var headers: ContinuousClock.Instant?
        var end: ContinuousClock.Instant?
    }

    enum Outcome: Equatable {
        case done                       // the whole body arrived
        case failed(CURLcode, String)   // curl's code and its error buffer
        case idle                       // no byte for the idle timeout
        case noHeaders                  // the response headers did not come by their deadline
        case overran                    // the whole transfer did not end by its deadline
        case cancelled
        case aborted                    // the body handler refused more data
    }

    let easy: UnsafeMutableRawPointer
    private let multi: UnsafeMutableRawPointer
    private var lists: [UInt32: UnsafeMutablePointer<curl_slist>?] = [:]
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private let cancelled = Atomic<Bool>(false)

    /// Called once the final response's header block is complete (status known, before any body byte).
    var onHead: (Head) -> Void = { _ in }
    /// Body bytes as they arrive; returning false aborts the transfer.
    var onBody: (UnsafeRawBufferPointer) -> Bool = { _ in true }

    /// Drops the handlers (and what they captured, such as a stream's continuation) after the last transfer.
    func releaseHandlers() {
        onHead = { _ in }
        onBody = { _ in true }
    }

    private var retryAfter: Duration?
    private var contentType: String?
    private var contentLength: Int?
    private var headSeen = false
    private var lastByte = ContinuousClock.now

    init() {
        precondition(curlGlobalInit, "curl_global_init failed")
        easy = curl_easy_init()!
        multi = curl_multi_init()!
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_multi_cleanup(multi)
        curl_easy_cleanup(easy)
        for list in lists.values { curl_slist_free_all(list) }
        errorBuffer.deallocate()
    }

    /// The first option curl refused since the last `resetSetup()`, with curl's reason.
    private(set) var refusedOption: (option: CURLoption, code: CURLcode)?

    func resetSetup() { refusedOption = nil }

    private func record(_ option: CURLoption, _ code: CURLcode) {
        if code != CURLE_OK, refusedOption == nil { refusedOption = (option, code) }
    }

    func set(_ option: CURLoption, _ value: Int) { record(option, ccurl_setopt_long(easy, option, value)) }
    func set(_ option: CURLoption, _ value: String) { record(option, ccurl_setopt_string(easy, option, value)) }
    func setKeepaliveProbes(_ count: Int) {
        record(CURLOPT_SOCKOPTFUNCTION, ccurl_setopt_keepalive_probes(easy, count))
    }
    func set(_ option: CURLoption, blob: [UInt8]) {
        record(option, blob.withUnsafeBytes { ccurl_setopt_blob(easy, option, $0.baseAddress, $0.count) })
    }
    /// curl keeps pointing at a list (it does not copy HTTPHEADER or CONNECT_TO), so each list lives
    /// until it is replaced or the handle is freed.
    func set(_ option: CURLoption, list: [String]) {
        var built: UnsafeMutablePointer<curl_slist>?
        for item in list { built = curl_slist_append(built, item) }
        record(option, ccurl_setopt_slist(easy, option, built))
        curl_slist_free_all(lists.updateValue(built, forKey: option.rawValue) ?? nil)
    }

    /// Aborts the transfer from any thread; `perform` returns `.cancelled` promptly.
    func cancel() {
        cancelled.store(true, ordering: .sequentiallyConsistent)
        curl_multi_wakeup(multi)
    }

    var isCancelled: Bool { cancelled.load(ordering: .sequentiallyConsistent) }

    /// Runs the transfer to its end on the calling thread (never a cooperative-pool thread).
    func perform(idleTimeout: Duration?, deadlines: Deadlines = Deadlines()) -> Outcome {
        withExtendedLifetime(self) {
            let context = Unmanaged.passUnretained(self).toOpaque()
            _ = ccurl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer)
            _ = ccurl_setopt_write_function(easy, curlWrite)
            _ = ccurl_setopt_ptr(easy, CURLOPT_WRITEDATA, context)
            _ = ccurl_setopt_header_function(easy, curlHeader)
            _ = ccurl_setopt_ptr(easy, CURLOPT_HEADERDATA, context)
            retryAfter = nil
            contentType = nil
            contentLength = nil
            headSeen = false
            errorBuffer[0] = 0
            lastByte = .now
            curl_multi_add_handle(multi, easy)
            defer { curl_multi_remove_handle(multi, easy) }
            return drive(idleTimeout: idleTimeout, deadlines: deadlines)
        }
    }

    private func drive(idleTimeout: Duration?, deadlines: Deadlines) -> Outcome {
        var running: Int32 = 1
        while true {
            if isCancelled { return .cancelled }
            let code = curl_multi_perform(multi, &running)
            if code != CURLM_OK { return .failed(CURLE_FAILED_INIT, String(cString: curl_multi_strerror(code))) }
            if running == 0 { break }
            // No fixed cap: curl shortens the wait to its own next timeout, and `cancel()` wakes the poll,
            // so an idle watch sleeps until a byte arrives or the idle timeout runs out (no wake-ups).
            // The idle timer restarts with every byte; the deadlines do not (a server that drips one
            // byte every few seconds must not hold a LIST for ever).
            var waitMs = Int32.max
            let now = ContinuousClock.now
            if let idleTimeout {
                let left = idleTimeout - (now - lastByte)
                if left <= .zero { return .idle }
                waitMs = Int32(clamping: max(1, left.wholeMilliseconds))
            }
            if !headSeen, let headers = deadlines.headers {
                if now >= headers { return .noHeaders }
                waitMs = min(waitMs, Int32(clamping: max(1, (headers - now).wholeMilliseconds)))
            }
            if let end = deadlines.end {
                if now >= end { return .overran }
                waitMs = min(waitMs, Int32(clamping: max(1, (end - now).wholeMilliseconds)))
            }
            _ = curl_multi_poll(multi, nil, 0, waitMs, nil)
        }
        var pending: Int32 = 0
        while let message = curl_multi_info_read(multi, &pending) {
            guard message.pointee.msg == CURLMSG_DONE else { continue }
            let result = ccurl_msg_result(message)
            if result == CURLE_OK { return .done }
            if result == CURLE_WRITE_ERROR, isCancelled { return .cancelled }
            if result == CURLE_WRITE_ERROR { return .aborted }
            let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(result))
            return .failed(result, detail)
        }
        return .failed(CURLE_FAILED_INIT, "transfer ended without a result")
    }

    fileprivate func received(_ bytes: UnsafeRawBufferPointer) -> Bool {
        lastByte = .now
        if isCancelled { return false }
        return onBody(bytes)
    }

    fileprivate func receivedHeader(_ line: UnsafeRawBufferPointer) {
        lastByte = .now
        if line.starts(with: "HTTP/".utf8) {
            retryAfter = nil   // a new response (after 100 Continue or a proxy's answer)
            contentType = nil
            contentLength = nil
        } else if line.count <= 2, line.allSatisfy({ $0 == 13 || $0 == 10 }) {
            var code = 0
            _ = ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code)
            if code >= 200 {
                headSeen = true
                onHead(Head(status: code, retryAfter: retryAfter, contentType: contentType, contentLength: contentLength))
            }
        } else if let value = Self.value(of: "content-type", in: line) {
            contentType = value
        } else if let value = Self.value(of: "content-length", in: line), let length = Int(value), length >= 0 {
            contentLength = length
        } else if let value = Self.value(of: "retry-after", in: line), let seconds = Int(value), seconds >= 0 {
            retryAfter = .seconds(seconds)
        }
    }

    private static func value(of name: String, in line: UnsafeRawBufferPointer) -> String? {
        let text = String(decoding: line, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":"), text[..<colon].lowercased() == name else { return nil }
        return ConfigText.trimmed(text[text.index(after: colon)...])
    }
}

private func curlWrite(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    return transfer.received(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private func curlHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    transfer.receivedHeader(UnsafeRawBufferPointer(start: data, count: length))
    return length
}

extension Duration {
    var wholeMilliseconds: Int {
        let parts = components
        return Int(parts.seconds) * 1000 + Int(parts.attoseconds / 1_000_000_000_000_000)
    }
}
