// libFuzzer entry point for K8sWatch's decoder, compiled together with Sources/K8sWatch/Model and
// K8sError.swift by scripts/fuzz.sh. Decoding must throw or succeed, never trap.

private let watched: Set<String> = ["api-gateway", "web", "ws"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWatchEvent(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let filtered = ServiceDecoder(names: watched), everything = ServiceDecoder(names: nil)
    _ = try? filtered.event(bytes, source: "fuzz")
    _ = try? everything.event(bytes, source: "fuzz")
    // list() takes the scanner's fast path; decodedList() is the full decoder it falls back to.
    _ = try? filtered.list(bytes, source: "fuzz")
    _ = try? filtered.decodedList(bytes, source: "fuzz")
    _ = try? everything.list(bytes, source: "fuzz")
    _ = ServiceDecoder.status(bytes)
    return 0
}
