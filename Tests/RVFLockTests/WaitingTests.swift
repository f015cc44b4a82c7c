import RVFLock
import Synchronization
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// Waiting for a lock another process holds: timeouts, progress, cancellation.
    @Suite struct WaitingTests {
        let sandbox = LockSandbox()

        /// A `rvflock-probe hold` process that holds the lock until its standard input closes.
        func startHolder() async throws -> (ChildProcess, WriterID) {
            let holder = try CrossProcessTests.probe(
                "hold", sandbox.dataFile, ["stdin=1"], in: sandbox,
                keepsStandardInputOpen: true)
            let line = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            let writer = try #require(line.split(separator: " ").last.map(String.init))
            let record = try #require(sandbox.lockRecord)
            #expect(record.writerID.description == writer)
            return (holder, record.writerID)
        }

        @Test func asyncAcquireOfAHeldLockThrowsCancelledWhenTheTaskIsCancelled() async throws {
            let lock = sandbox.lock()
            let (holder, writer) = try await startHolder()
            let waiter = Task { () async throws(LockError) -> WriterID in
                // The timeout only keeps a broken cancellation from hanging the test.
                let handle = try await lock.acquire(timeout: .seconds(30))
                return handle.writerID
            }
            try await Task.sleep(for: .milliseconds(200))
            waiter.cancel()
            let result = await waiter.result
            switch result {
            case .success:
                Issue.record("the waiter took a lock that was held throughout")
            case .failure(let error):
                #expect((error as? LockError)?.code == .cancelled, "got \(error)")
            }
            #expect(sandbox.lockRecord?.writerID == writer)
            holder.closeStandardInput()
            #expect(await holder.waitForExit() == 0)
        }

        @Test func asyncAcquireInAnAlreadyCancelledTaskThrowsCancelled() async throws {
            let lock = sandbox.lock()
            let (holder, _) = try await startHolder()
            let waiter = Task { () async throws(LockError) -> Bool in
                withUnsafeCurrentTask { $0?.cancel() }
                let handle = try await lock.acquire(timeout: .seconds(30))
                return handle.isHeld
            }
            let result = await waiter.result
            if case .failure(let error) = result {
                #expect((error as? LockError)?.code == .cancelled, "got \(error)")
            } else {
                Issue.record("a cancelled task acquired a held lock")
            }
            holder.closeStandardInput()
            #expect(await holder.waitForExit() == 0)
        }

        @Test func acquireWithTimeoutOnAHeldLockThrowsTimedOutAndReportsProgress() async throws {
            let lock = sandbox.lock()
            let (holder, writer) = try await startHolder()
            let reports = Mutex<[WaitProgress]>([])
            let clock = ContinuousClock()
            let start = clock.now
            let error = try #require(
                LockError.caught { () throws(LockError) in
                    try lock.acquire(timeout: .milliseconds(600)) { progress in
                        reports.withLock { $0.append(progress) }
                    }
                })
            let waited = clock.now - start
            #expect(error.code == .timedOut)
            #expect(error.holder?.pid == UInt32(holder.pid))
            #expect(error.holder?.writerID == writer)
            #expect(error.holder?.liveness == .kernelLockHeld)
            // Not before the timeout; the upper bound only catches a wait that ignores it.
            #expect(waited >= .milliseconds(600))
            #expect(waited < .seconds(20))
            let progress = reports.withLock { $0 }
            #expect(!progress.isEmpty)
            if let last = progress.last {
                #expect(last.attempts >= 1)
                #expect(last.status.holder?.writerID == writer)
                if case .held = last.status {} else { Issue.record("progress status is \(last.status), expected held") }
            }
            #expect(sandbox.lockRecord?.writerID == writer)
            holder.closeStandardInput()
            #expect(await holder.waitForExit() == 0)
        }

        /// A waiter that takes the lock once the holder lets go, however it lets go;
        /// returns the writer id it held under.
        func waitWhile(_ holder: ChildProcess, _ letGo: (ChildProcess) async -> Void) async throws -> WriterID {
            let lock = sandbox.lock()
            let waiter = Task { () async throws(LockError) -> WriterID in
                let handle = try await lock.acquire(timeout: .seconds(30))
                let writer = handle.writerID
                try handle.release()
                return writer
            }
            try await Task.sleep(for: .milliseconds(300))
            await letGo(holder)
            return try await waiter.value
        }

        @Test func blockingAcquireGetsTheLockOnceItIsReleased() async throws {
            let (holder, writer) = try await startHolder()
            let acquired = try await waitWhile(holder) { $0.closeStandardInput() }
            #expect(acquired != writer)
            #expect(await holder.waitForExit() == 0)
        }

        @Test func blockingAcquireTakesOverWhenTheHolderIsKilled() async throws {
            let (holder, writer) = try await startHolder()
            let acquired = try await waitWhile(holder) { await CrossProcessTests.crash($0) }
            #expect(acquired != writer)
        }
    }
}
