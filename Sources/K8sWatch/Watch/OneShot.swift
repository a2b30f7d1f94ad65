/// One LIST, as a snapshot of the named Services.
func fetchSnapshot(api: any ServiceAPI, namespace: String, names: Set<String>) async throws(K8sError) -> ServiceSnapshot {
    let path = "/api/v1/namespaces/\(namespace)/services"
    let list = try await listAll(api: api, path: path, query: [], decoder: ServiceDecoder(names: names))
    return ServiceSnapshot(services: list.services, resourceVersion: list.resourceVersion)
}

/// A LIST and, should the server page it anyway (none does without `limit`), its further pages;
/// the resourceVersion is the first page's, which is the one the pages are consistent with.
func listAll(api: any ServiceAPI, path: String, query: [(String, String)],
             decoder: ServiceDecoder) async throws(K8sError) -> ServiceDecoder.List {
    var list = try decoder.list(try await api.get(path, query: query), source: path)
    var token = list.continueToken
    while let next = token {
        let page = try decoder.list(try await api.get(path, query: [("continue", next)]), source: path)
        list.services.merge(page.services) { $1 }
        token = page.continueToken
    }
    list.continueToken = nil
    return list
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
