import Foundation

/// Runs blocking work (a child process, a wait, a whole end-to-end test) on a thread of its own and awaits
/// it, so that tests never block Swift's cooperative pool, which has only as many threads as cores: a test
/// that holds one for seconds starves every other suite's tasks, and their bounded waits and deadlines.
///
/// The work stays in the calling task (its executor preference is a thread made for this call), so what it
/// records with `#expect` or `#require` belongs to the test that called it.
public func blocking<T>(_ body: () throws -> T) async throws -> T {
    let thread = ThreadExecutor()
    defer { thread.finish() }
    return try await withTaskExecutorPreference(thread) { try await onPreferredExecutor(body) }
}

/// `@concurrent`: runs on the task's preferred executor, not on the caller's.
@concurrent private func onPreferredExecutor<T>(_ body: () throws -> T) async throws -> T { try body() }

/// A task executor that runs its jobs, in order, on one thread of its own until `finish()`.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    init() {
        Thread.detachNewThread { [self] in
            Thread.current.name = "blocking"
            runJobs()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// The thread ends once the jobs already enqueued have run.
    func finish() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finished { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
