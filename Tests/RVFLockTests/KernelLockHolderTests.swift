#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing
import RVFLockSpawn

/// A lock whose writer has exited while processes it started keep its kernel lock
/// (issue 14, item 3): `rvf-lock exec` killed while its command's children hold
/// the inherited descriptor. Messages name those processes, and say the writer's
/// own process has exited, instead of calling the record's PID alive.
@Suite(.enabled(if: Spawn.executable(named: "flock") != nil, "needs flock(1) from util-linux"))
struct KernelLockHolderTests {
    let sandbox = LockSandbox()

    @Test func theProcessesHoldingTheKernelLockAreNamedWhenTheWritersProcessHasExited() async throws {
        let dead = try Host.deadPID(scratch: sandbox.directory)
        sandbox.plant(
            LockRecord(
                pid: dead, hostname: Host.name, timestampNanoseconds: LockFiles.nanoseconds(secondsAgo: 0),
                writerID: LockFiles.randomWriterID()))
        let flock = try #require(Spawn.executable(named: "flock"))
        let keeper = try ChildProcess(flock, ["-n", sandbox.lockFile, "sleep", "30"], outputIn: sandbox.directory.path, name: "flock")
        #expect(await eventually { LockFiles.isKernelLocked(sandbox.lockFile) })

        let status = try sandbox.lock().status()
        guard case .held(let holder) = status else {
            Issue.record("expected held, got \(status)")
            return
        }
        #expect(holder.liveness == .kernelLockHeldAfterWriterExited)
        let programs = holder.kernelLockHolders.compactMap(\.program).sorted()
        #expect(programs == ["flock", "sleep"], "\(holder.kernelLockHolders)")
        #expect(holder.kernelLockHolders.contains { $0.pid == keeper.pid })
        #expect(holder.program == nil)
        let text = "\(status)"
        #expect(text.contains("whose process has exited"), "\(text)")
        #expect(text.contains("pid \(keeper.pid) (flock)"), "\(text)")

        // What a contender is told says the same.
        let error = LockError.caught { () throws(LockError) in try sandbox.lock().tryAcquire() }
        #expect(error?.description.contains("(sleep)") == true, "\(String(describing: error)) / \(String(describing: error?.status))")
    }
}
