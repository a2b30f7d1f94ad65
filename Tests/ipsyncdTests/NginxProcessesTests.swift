import Glibc
@testable import NginxApply
import Posix
import Testing

/// How the applier confirms a reload: the master's children, from the kernel's list and from a scan of /proc.
@Suite("NginxProcesses")
struct NginxProcessesTests {
    @Test func childrenFromTheKernelsListMatchTheScanAndEndWithTheChild() throws {
        var started: [pid_t] = []
        for _ in 0..<2 {
            guard case .success(let pid) = ProcessGroup.spawn("/bin/sleep", ["30"], environment: nil, stdout: 2, stderr: 2) else {
                Issue.record("cannot start /bin/sleep")
                return
            }
            started.append(pid)
        }
        let me = getpid()
        // Other suites start children of this process too: only ours are asserted on.
        #expect(NginxProcesses.children(of: me).isSuperset(of: started))
        #expect(NginxProcesses.scannedChildren(of: me).isSuperset(of: started))
        for pid in started { _ = ProcessGroup.terminate(pid) }
        #expect(NginxProcesses.children(of: me).isDisjoint(with: started))
        #expect(NginxProcesses.scannedChildren(of: me).isDisjoint(with: started))
    }

    @Test func aProcessWithoutChildrenHasNone() {
        guard case .success(let pid) = ProcessGroup.spawn("/bin/sleep", ["30"], environment: nil, stdout: 2, stderr: 2) else {
            Issue.record("cannot start /bin/sleep")
            return
        }
        defer { _ = ProcessGroup.terminate(pid) }
        #expect(NginxProcesses.children(of: pid).isEmpty)
    }
}
