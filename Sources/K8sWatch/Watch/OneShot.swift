/// One LIST, as a snapshot of the named Services.
func fetchSnapshot(api: any ServiceAPI, namespace: String, names: Set<String>) async throws(K8sError) -> ServiceSnapshot {
    let path = "/api/v1/namespaces/\(namespace)/services"
    let list = try ServiceDecoder(names: names).list(try await api.get(path, query: []), source: path)
    return ServiceSnapshot(services: list.services, resourceVersion: list.resourceVersion)
}

/// One LIST (limit=1) and one WATCH (timeoutSeconds=1) that must both answer 2xx. An error names
/// the verb that failed: "cannot watch services in namespace flowmaster: …".
func probeAccess(api: any ServiceAPI, namespace: String) async throws(K8sError) {
    let path = "/api/v1/namespaces/\(namespace)/services"
    do {
        _ = try await api.get(path, query: [("limit", "1")])
    } catch {
        throw error.denying("list", namespace: namespace)
    }
    do {
        // The 2xx answer is the proof; ending the iteration at once aborts the transfer.
        let stream = try await api.stream(path, query: [("watch", "true"), ("timeoutSeconds", "1")],
                                          idleTimeout: .seconds(5))
        _ = stream
    } catch {
        throw error.denying("watch", namespace: namespace)
    }
}

extension K8sError {
    fileprivate func denying(_ verb: String, namespace: String) -> K8sError {
        var error = self
        error.message = "cannot \(verb) services in namespace \(namespace): \(message)"
        return error
    }
}
