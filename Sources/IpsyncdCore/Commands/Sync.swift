import K8sWatch
import Logging
import NginxApply

extension Commands {
    /// `ipsyncd sync [--dry-run]`: exit 0 in sync or applied, 2 with `dryRun` when changes are pending
    /// (the diff on stdout), 1 on any error (the message on stderr).
    package static func sync(settings: Settings, dryRun: Bool, source: any ServiceSource, logger: Logger) async -> CommandOutput {
        let resyncer = Resyncer(settings: settings, logger: logger)
        // A one-shot sync is a start-up too (run from cron after crashes): settle what an earlier run
        // left, as the daemon does at start, before the API is even asked.
        if !dryRun {
            do { try await recover(resyncer.applier, logger: logger) } catch {
                return .failure("cannot settle what an earlier run left: \(error)")
            }
        }
        let snapshot = await source.snapshotResult()
        guard case .success(let snapshot) = snapshot else {
            return .failure("cannot read the Services from \(source.name): \(snapshot.errorText)")
        }
        let result = await resyncer.resync(snapshot: snapshot, dryRun: dryRun)
        var output = CommandOutput(exitCode: 0)
        if dryRun {
            output.stdout = result.diff
        } else {
            logResync(result, logger: logger, checkCommand: settings.checkCommand)
        }
        var notes = result.warnings.map { "ipsyncd: warning: \($0)\n" }.joined()
        if result.outcome == .failed {
            output.exitCode = 1
            notes += "ipsyncd: \(result.failure ?? result.summary)\n"
        } else if !result.errors.isEmpty {
            output.exitCode = 1      // the other routes were synced, but this one needs a person
            notes += result.errors.map { "ipsyncd: error: \($0)\n" }.joined()
        } else if result.outcome == .dryRun {
            output.exitCode = 2
        }
        if dryRun { notes += "ipsyncd: \(result.summary)\n" }
        output.stderr = notes
        return output
    }

    /// The applier's start-up recovery: staged files removed, a pending reload done, an unchecked swap undone.
    private static func recover(_ applier: Applier, logger: Logger) async throws(ApplyError) {
        let report = try await applier.recoverAtStartup()
        if report.reloaded { logger.notice("reloaded nginx for a change an earlier run wrote but did not reload") }
        if report.restored { logger.warning("put back the last good site file after an unfinished check") }
    }
}

extension Result where Failure == K8sError {
    var errorText: String {
        if case .failure(let error) = self { return error.description }
        return ""
    }
}

/// The logic of the one-shot commands; `Sources/ipsyncd` only parses arguments and prints.
public enum Commands {}
