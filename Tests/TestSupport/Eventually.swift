#if canImport(Glibc)
import Glibc
#endif

/// The one way tests wait for behaviour: `true` as soon as `condition` holds, polled every 10 ms, `false` once
/// `timeout` worth of polls found it false. Polls are counted rather than the clock read, so that time the test
/// spends without a thread (other suites hold the cooperative pool's few threads for minutes) never uses up the
/// wait. The timeout only bounds a failure; no test asserts on how soon. Use as `#expect(await eventually { … })`.
public func eventually(timeout: Duration = .seconds(60), _ condition: () async -> Bool) async -> Bool {
    for _ in 0..<polls(timeout) {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// The same for tests that block (they drive real processes without async); never call it from async code,
/// where it would hold one of the cooperative pool's few threads.
public func eventuallyBlocking(timeout: Duration = .seconds(60), _ condition: () -> Bool) -> Bool {
    for _ in 0..<polls(timeout) {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

private func polls(_ timeout: Duration) -> Int {
    max(1, Int(timeout / .milliseconds(10)))
}
