#if canImport(Glibc)
import Glibc
#endif

/// The one way tests wait for behaviour: `true` as soon as `condition` holds, polled every 10 ms, `false`
/// after `timeout`. The timeout only bounds a failure (generous: other suites share the machine's cores);
/// no test asserts on how soon. Use as `#expect(await eventually { … }, "what")`.
public func eventually(timeout: Duration = .seconds(60), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// The same for tests that block (they drive real processes without async); never call it from async code,
/// where it would hold one of the cooperative pool's few threads.
public func eventuallyBlocking(timeout: Duration = .seconds(60), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
