#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// One lock's heartbeat hung in its write (as a sync on a hung NFS server
    /// would) stalls neither that lock's `isHeld` and `checkHeld` nor anything of
    /// another lock of the process (issue 10, item 9).
    ///
    /// The hook that blocks the heartbeat is process-wide, so the scenario runs in
    /// a probe of its own (`isolation` mode), where it cannot stall the locks of
    /// other tests. The blocking is deterministic: the probe's hook waits on a
    /// semaphore that is opened only after every check, when this test says so. A
    /// stall shows as a probe that never gets there: the suite's time limit fails it.
    @Suite struct HeartbeatIsolationTests {
        @Test func aHungHeartbeatStallsNeitherItsOwnLockChecksNorAnotherLock() async throws {
            let sandbox = LockSandbox()
            let other = sandbox.directory.file("other.rvf")
            let done = sandbox.directory.file("done")
            let probe = try CrossProcessTests.probe(
                "isolation", sandbox.dataFile, ["other=\(other)", "heartbeat-ms=20", "until=\(done)"], in: sandbox)
            // No timing here: a stall is a hang, ended by the suite's time limit.
            let waiting = await probe.waitForLine(startingWith: "waiting", timeout: .seconds(3600))
            #expect(waiting != nil, "the probe stalled or failed: \(probe.output) \(probe.errorOutput)")
            #expect(
                probe.outputLines == [
                    "a-acquired", "a-blocked", "a-isHeld true", "a-checkHeld ok",
                    "b-acquired", "b-heartbeat-advanced", "b-released",
                    "a-isHeld true", "a-checkHeld ok", "waiting",
                ], "\(probe.errorOutput)")
            // Meanwhile, from outside: A is held, B is gone.
            #expect(sandbox.lockRecord != nil)
            #expect(!LockFiles.exists(other + ".lock"))

            LockFiles.write([], to: done)
            #expect(await probe.waitForExit(timeout: .seconds(3600)) == 0, "\(probe.output) \(probe.errorOutput)")
            #expect(probe.outputLines.last == "a-released")
            #expect(!sandbox.lockExists)
        }
    }
}
