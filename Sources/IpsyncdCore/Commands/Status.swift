import FoundationEssentials
import K8sWatch

extension Commands {
    /// `ipsyncd status [--json]`: per route, the live address, the address(es) in the file, in sync?
    /// Exit 0 when every route is in sync, 1 otherwise or when the API or the file cannot be read.
    package static func status(settings: Settings, json: Bool, source: any ServiceSource) async -> CommandOutput {
        let snapshot = await source.snapshotResult()
        guard case .success(let snapshot) = snapshot else {
            return .failure("cannot read the Services from \(source.name): \(snapshot.errorText)")
        }
        let plan: Plan
        switch Resyncer.readAndPlan(snapshot: snapshot, routes: settings.routes, sitePath: settings.site,
                                    templatePath: settings.template, serviceCIDRs: settings.serviceCIDRs) {
        case .success(let made): plan = made
        case .failure(let problem): return .failure(problem.message)
        }
        let report = StatusReport(plan: plan, namespace: settings.namespace)
        var output = CommandOutput(exitCode: report.inSync ? 0 : 1)
        output.stdout = json ? report.json() : Array(report.table().utf8)
        return output
    }
}

/// `status` output: a table for people, JSON with stable keys for machines.
struct StatusReport: Encodable {
    struct Row: Encodable {
        var location: String
        var service: String
        var live: String?
        var file: [String]
        var inSync: Bool
        var status: String
        var reason: String?

        enum CodingKeys: String, CodingKey { case location, service, live, file, inSync = "in_sync", status, reason }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(location, forKey: .location)
            try container.encode(service, forKey: .service)
            try container.encode(live, forKey: .live)         // null, not absent: stable keys
            try container.encode(file, forKey: .file)
            try container.encode(inSync, forKey: .inSync)
            try container.encode(status, forKey: .status)
            try container.encode(reason, forKey: .reason)
        }
    }

    var site: String
    var namespace: String
    var inSync: Bool
    var routes: [Row]
    var warnings: [String]
    var errors: [String]

    enum CodingKeys: String, CodingKey { case site, namespace, inSync = "in_sync", routes, warnings, errors }

    init(plan: Plan, namespace: String) {
        site = plan.sitePath
        self.namespace = namespace
        routes = plan.outcomes.map { outcome in
            Row(location: outcome.location, service: outcome.service, live: outcome.live?.description,
                file: outcome.fileAddresses, inSync: outcome.inSync, status: outcome.status.rawValue,
                reason: outcome.reason)
        }
        warnings = plan.warnings
        errors = plan.errors
        // In template mode the file can differ outside the routes' addresses too.
        inSync = routes.allSatisfy(\.inSync) && !plan.hasChanges && plan.errors.isEmpty
    }

    func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)).map(Array.init) ?? Array("{}".utf8)) + [0x0A]
    }

    func table() -> String {
        let header = ["LOCATION", "SERVICE", "LIVE", "IN FILE", "IN SYNC"]
        let rows = routes.map { row in
            [row.location, row.service, row.live ?? "-", row.file.isEmpty ? "-" : row.file.joined(separator: ", "),
             row.inSync ? "yes" : "NO" + (row.status == "changed" ? " (run ipsyncd sync)" : "")]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).enumerated().map { index, pair in
                index == cells.count - 1 ? pair.0 : pair.0 + String(repeating: " ", count: pair.1 - pair.0.count)
            }.joined(separator: "  ") + "\n"
        }
        var text = "site \(site), namespace \(namespace)\n" + line(header) + rows.map(line).joined()
        for row in routes where row.reason != nil && row.status != "unchanged" {
            text += "\(row.location): \(row.reason!)\n"
        }
        text += errors.filter { error in !routes.contains { $0.reason == error } }.map { "error: \($0)\n" }.joined()
        text += warnings.map { "warning: \($0)\n" }.joined()
        text += inSync ? "all routes in sync\n" : "NOT in sync\n"
        return text
    }
}
