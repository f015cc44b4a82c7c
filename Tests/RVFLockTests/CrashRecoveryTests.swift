#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// A holder that dies without releasing.
    @Suite struct CrashRecoveryTests {
        @Test func waiterGetsTheLockOnlyAfterTheHolderIsKilled() async throws {
            let sandbox = LockSandbox()
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, ["stale-ms=1500"], in: sandbox)
            let acquired = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            let waiter = try CrossProcessTests.probe("wait", sandbox.dataFile, ["stale-ms=1500", "timeout-ms=30000"], in: sandbox)

            // Longer than the stale threshold: a live holder must keep its lock regardless.
            try await Task.sleep(for: .milliseconds(2500))
            #expect(waiter.exitStatusIfExited() == nil, "waiter ended early: \(waiter.output)")
            #expect(!waiter.output.contains("acquired"))
            #expect(holder.exitStatusIfExited() == nil)
            #expect(sandbox.lockRecord?.pid == UInt32(holder.pid))

            let clock = ContinuousClock()
            let killedAt = clock.now
            await CrossProcessTests.crash(holder)
            let code = await waiter.waitForExit(timeout: .seconds(40))
            let latency = clock.now - killedAt
            #expect(code == 0, "waiter: \(waiter.output) \(waiter.errorOutput)")
            #expect(waiter.outputLines.contains { $0.hasPrefix("acquired") })
            #expect(!holder.output.contains("released"))
            #expect(!sandbox.lockExists)
            print("crash recovery: holder \(acquired); waiter got the lock \(latency) after SIGKILL")
        }

        @Test func lockOfAKilledHolderIsJudgedGoneAtOnceWithoutWaitingForItsAge() async throws {
            let sandbox = LockSandbox()
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            let lock = sandbox.lock()
            guard case .held(let live) = try lock.status() else {
                Issue.record("expected held while the holder lives, got \(try lock.status())")
                return
            }
            #expect(live.liveness == .kernelLockHeld)
            #expect(live.pid == UInt32(holder.pid))

            await CrossProcessTests.crash(holder)
            // Default thresholds (30 s): only the kernel's proof can make this stale now.
            guard case .stale(let gone, let reason) = try lock.status() else {
                Issue.record("expected stale after SIGKILL, got \(try lock.status())")
                return
            }
            #expect(reason == .holderGone)
            #expect(gone.liveness == .kernelLockReleased)
            #expect(gone.pid == UInt32(holder.pid))
            let handle = try lock.tryAcquire()
            try handle.release()
        }

        @Test func processBlockedByAnotherProcessReportsItAsBusy() async throws {
            let sandbox = LockSandbox()
            let holder = try CrossProcessTests.probe(
                "hold", sandbox.dataFile, ["stdin=1"], in: sandbox,
                keepsStandardInputOpen: true)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            let attempt = try await CrossProcessTests.runProbe("try", sandbox.dataFile)
            #expect(attempt.status == 3, "\(attempt)")
            #expect(attempt.lines.first == "busy \(holder.pid) \(Host.name)")

            let error = LockError.caught { () throws(LockError) in try sandbox.lock().tryAcquire() }
            #expect(error?.code == .busy)
            #expect(error?.holder?.pid == UInt32(holder.pid))

            holder.closeStandardInput()
            #expect(await holder.waitForExit(timeout: .seconds(20)) == 0)
            #expect(holder.outputLines.last == "released")
            let after = try await CrossProcessTests.runProbe("try", sandbox.dataFile)
            #expect(after.status == 0, "\(after)")
        }
    }
}
