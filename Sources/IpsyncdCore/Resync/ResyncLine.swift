import Logging

/// What one resync line says (docs/design.md §8), independent of how the resync was done: the daemon and the one-shot
/// `sync` fill it from a `ResyncResult`, tests fill it by hand.
struct ResyncLine: Sendable, Equatable {
    struct Change: Sendable, Equatable {
        var route: String, service: String, old: String, new: String
    }
    struct Kept: Sendable, Equatable {
        var route: String, service: String, reason: String
    }
    struct Step: Sendable, Equatable {
        var ok: Bool
        var duration: Duration
    }

    var outcome: ResyncOutcome
    var changes: [Change] = []
    var kept: [Kept] = []
    /// Routes that could not be synced (location missing, …); the others still were.
    var errors: [String] = []
    var check: Step?
    var reload: Step?
    /// Why the resync failed, e.g. `nginx -t: nginx: [emerg] unknown directive "x" in …:3`.
    var failure: String?
    var retryIn: Duration?
    /// The unified diff, for `--dry-run`.
    var diff: String?
    /// Anything else worth saying, e.g. a reload done for an earlier change.
    var notes: [String] = []

    var level: Logger.Level {
        switch outcome {
        case .failed: .error
        case .kept: .warning
        case _ where !errors.isEmpty: .warning
        case .applied, .dryRun: .notice
        case .inSync: .info
        }
    }

    var message: String {
        var parts: [String] = []
        let changed = changes.map { "\($0.route) \($0.service) \($0.old) → \($0.new)" }.joined(separator: ", ")
        switch outcome {
        case .failed:
            var text = "resync failed: " + (failure ?? "unknown error")
            if !changed.isEmpty { text += " (wanted \(changed))" }
            parts.append(text)
            if let retryIn { parts.append("will retry in \(Self.format(retryIn))") }
        case .applied:
            parts.append("resync: " + (changed.isEmpty ? "file rewritten" : changed))
            if let check { parts.append("check \(check.ok ? "ok" : "failed") \(Self.format(check.duration))") }
            if let reload { parts.append("reload \(reload.ok ? "ok" : "failed") \(Self.format(reload.duration))") }
        case .dryRun:
            parts.append("resync (dry run): would change " + (changed.isEmpty ? "the file" : changed)
                         + "; nothing written")
        case .inSync, .kept:
            parts.append(kept.isEmpty && errors.isEmpty ? "resync: in sync, nothing written" : "resync:")
        }
        if !kept.isEmpty {
            parts.append(kept.map { "kept \($0.route) (\($0.reason))" }.joined(separator: ", "))
        }
        parts.append(contentsOf: errors.map { "error: \($0)" })
        parts.append(contentsOf: notes)
        // "resync:" + "kept …" read as one clause: `resync: kept /api/ (…)`.
        var text = parts.first ?? ""
        for part in parts.dropFirst() { text += text.hasSuffix(":") ? " " + part : "; " + part }
        if outcome == .dryRun, let diff, !diff.isEmpty { text += "\n" + diff }
        return text
    }

    /// Journal fields: one value per changed route, so `journalctl IPSYNCD_SERVICE=api-gateway` finds the line.
    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["ipsyncd_result": .string(outcome.rawValue)]
        let routes = changes.map(\.route) + kept.map(\.route)
        if !routes.isEmpty {
            metadata["ipsyncd_route"] = .array(routes.map { .string($0) })
            metadata["ipsyncd_service"] = .array((changes.map(\.service) + kept.map(\.service)).map { .string($0) })
        }
        if !changes.isEmpty {
            metadata["ipsyncd_old"] = .array(changes.map { .string($0.old) })
            metadata["ipsyncd_new"] = .array(changes.map { .string($0.new) })
        }
        if let check { metadata["ipsyncd_check_ms"] = .string(String(Self.milliseconds(check.duration))) }
        if let reload { metadata["ipsyncd_reload_ms"] = .string(String(Self.milliseconds(reload.duration))) }
        return metadata
    }

    func log(to logger: Logger) {
        logger.log(level: level, "\(message)", metadata: metadata)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// `41ms`, `2s`, `1.5s`, `60s`.
    static func format(_ duration: Duration) -> String {
        let ms = milliseconds(duration)
        if ms < 1000 { return "\(ms)ms" }
        let tenths = (ms + 50) / 100
        return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
    }
}

extension ResyncResult {
    /// The same result in `sync`'s words on stderr (the journal's words are `ResyncLine.message`).
    /// One line: "applied: /api/ api-gateway 10.43.0.12:9000 → 10.43.7.3:9000", "in sync, nothing written", …
    package var summary: String {
        let changed = changes.map { "\($0.location) \($0.service) \($0.old) → \($0.new)" }.joined(separator: ", ")
        let keptText = kept.map { "kept \($0.location) (\($0.reason ?? ""))" }.joined(separator: ", ")
        var text: String
        switch outcome {
        case .applied: text = "applied: " + (changed.isEmpty ? "the file (no route address changed)" : changed)
        case .inSync: text = reloadedPending ? "in sync, nothing written; reloaded nginx for an earlier change" : "in sync, nothing written"
        case .kept: text = "nothing written: " + keptText
        case .dryRun: text = "dry run, would change: " + (changed.isEmpty ? "the file" : changed)
        case .failed: text = "failed: " + (failure ?? "unknown error")
        }
        if outcome != .kept && !keptText.isEmpty { text += "; " + keptText }
        let routeErrors = (plan?.errors ?? []).filter { $0 != failure }
        if !routeErrors.isEmpty { text += "; errors: " + routeErrors.joined(separator: "; ") }
        return text
    }
}
