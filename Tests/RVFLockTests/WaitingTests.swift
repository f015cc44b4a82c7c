import RVFLock
import Synchronization
import Testing

/// Waiting for a held lock: timeouts, progress, cancellation, and exclusion among tasks.
@Suite struct WaitingTests {
    let sandbox = LockSandbox()

    @Test func asyncAcquireOfAHeldLockThrowsCancelledWhenTheTaskIsCancelled() async throws {
        let lock = sandbox.lock()
        let holder = try lock.tryAcquire()
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
        #expect(holder.scope.isHeld)
        try holder.release()
    }

    @Test func asyncAcquireInAnAlreadyCancelledTaskThrowsCancelled() async throws {
        let lock = sandbox.lock()
        let holder = try lock.tryAcquire()
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
        try holder.release()
    }

    @Test func acquireWithTimeoutOnAHeldLockThrowsTimedOutAndReportsProgress() throws {
        let lock = sandbox.lock()
        let holder = try lock.tryAcquire()
        let reports = Mutex<[WaitProgress]>([])
        let clock = ContinuousClock()
        let start = clock.now
        let error = try #require(LockError.caught { () throws(LockError) in
            try lock.acquire(timeout: .milliseconds(600)) { progress in
                reports.withLock { $0.append(progress) }
            }
        })
        let waited = clock.now - start
        #expect(error.code == .timedOut)
        #expect(error.holder?.pid == holder.record.pid)
        #expect(error.holder?.writerID == holder.writerID)
        // Not before the timeout; the upper bound only catches a wait that ignores it.
        #expect(waited >= .milliseconds(600))
        #expect(waited < .seconds(20))
        let progress = reports.withLock { $0 }
        #expect(!progress.isEmpty)
        if let last = progress.last {
            #expect(last.attempts >= 1)
            #expect(last.status.holder?.writerID == holder.writerID)
            if case .held = last.status {} else { Issue.record("progress status is \(last.status), expected held") }
        }
        #expect(holder.scope.isHeld)
        try holder.release()
    }

    @Test func blockingAcquireGetsTheLockOnceItIsReleased() async throws {
        let lock = sandbox.lock()
        let holder = try lock.tryAcquire()
        let waiter = Task { () async throws(LockError) -> Bool in
            let handle = try await lock.acquire(timeout: .seconds(30))
            return handle.isHeld
        }
        try await Task.sleep(for: .milliseconds(300))
        try holder.release()
        let acquired = try await waiter.value
        #expect(acquired)
    }

    @Test func concurrentTasksNeverHoldTheLockTogether() async throws {
        let lock = sandbox.lock()
        let monitor = CriticalSectionMonitor()
        let tasks = 8
        let iterations = 50
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    for _ in 0..<iterations {
                        try await lock.withLock(timeout: .seconds(60)) { scope in
                            monitor.enter()
                            #expect(scope.isHeld)
                            await monitor.incrementSlowly()
                            monitor.leave()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(monitor.overlaps == 0)
        #expect(monitor.count == tasks * iterations)
        #expect(!sandbox.lockExists)
    }
}
