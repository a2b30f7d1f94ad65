/// What ServiceWatcher needs from the API: one GET and one streaming GET. `APIClient` is the real one;
/// tests may script another.
package protocol ServiceAPI: Sendable {
    /// GET with the whole body. A non-2xx answer throws K8sError with the Status message, the HTTP
    /// status and Retry-After.
    func get(_ path: String, query: [(String, String)]) async throws(K8sError) -> [UInt8]

    /// Streaming GET for watches. Throws like `get` when the answer's status is not 2xx. The stream
    /// yields each '\n'-terminated line without its '\n', finishes at the clean end of the body,
    /// finishes throwing K8sError(.timeout) when no byte arrived for `idleTimeout`, and finishes
    /// throwing K8sError(.connection) on a broken transfer. Releasing the stream (the consumer's
    /// iteration ended and the stream dropped) or cancelling its task aborts the transfer within 100 ms.
    func stream(_ path: String, query: [(String, String)], idleTimeout: Duration)
        async throws(K8sError) -> AsyncThrowingStream<[UInt8], any Error>
}
