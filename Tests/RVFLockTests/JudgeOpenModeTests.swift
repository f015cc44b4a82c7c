#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// NFSv4 refuses an exclusive `flock()` (emulated there with a whole-file POSIX
    /// lock) on a descriptor not open for writing; so a waiter, which queues for
    /// the holder's exclusive lock, must have the lock file open read-write
    /// (issue 10, item 8). This machine has no NFS client: the test asserts the mode.
    @Suite struct JudgeOpenModeTests {
        @Test func aWaiterHasTheLockFileOpenForReadingAndWriting() async throws {
            let sandbox = LockSandbox()
            let handle = try sandbox.lock().tryAcquire()
            let waiter = try CrossProcessTests.probe("wait", sandbox.dataFile, ["timeout-ms=60000"], in: sandbox)

            // Once the waiter queues, it has the holder's lock file open, and keeps it open.
            var modes: [CInt: CInt] = [:]
            let found = await eventually {
                modes = [:]
                for descriptor in ProcFS.descriptors(of: waiter.pid, openOn: sandbox.lockFile) {
                    if let flags = ProcFS.openFlags(pid: waiter.pid, descriptor: descriptor) { modes[descriptor] = flags & O_ACCMODE }
                }
                return !modes.isEmpty || waiter.exitStatusIfExited() != nil
            }
            #expect(found && !modes.isEmpty, "the waiter never opened the lock file: \(waiter.output) \(waiter.errorOutput)")
            #expect(waiter.exitStatusIfExited() == nil, "the waiter did not wait: \(waiter.output)")
            for (descriptor, mode) in modes {
                #expect(mode == O_RDWR, "descriptor \(descriptor) is open with access mode \(mode), not O_RDWR (\(O_RDWR))")
            }

            try handle.release()
            #expect(await waiter.waitForExit(timeout: .seconds(30)) == 0, "waiter: \(waiter.output) \(waiter.errorOutput)")
            #expect(waiter.outputLines.last?.hasPrefix("acquired") == true)
        }
    }
}
