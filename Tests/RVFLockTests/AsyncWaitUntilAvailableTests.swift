import RVFLock
import Testing

/// The async `waitUntilAvailable`, for async code, which may not call the blocking one.
@Suite struct AsyncWaitUntilAvailableTests {
    let sandbox = LockSandbox()

    @Test func returnsFreeAtOnceForAFreeLock() async throws {
        let status = try await sandbox.lock().waitUntilAvailable(timeout: .seconds(30))
        #expect(status == .free)
    }

    @Test func givesUpWhenTheTaskIsCancelledAndTimesOutOtherwise() async throws {
        let lock = sandbox.lock()
        sandbox.plantLiveHolderOnAnotherHost()
        let waiter = Task { () async throws(LockError) -> LockStatus in
            try await lock.waitUntilAvailable(timeout: .seconds(60))
        }
        try await Task.sleep(for: .milliseconds(200))
        waiter.cancel()
        switch await waiter.result {
        case .success(let status): Issue.record("returned \(status) for a lock held throughout")
        case .failure(let error): #expect((error as? LockError)?.code == .cancelled, "got \(error)")
        }
        do throws(LockError) {
            _ = try await lock.waitUntilAvailable(timeout: .milliseconds(100))
            Issue.record("returned for a lock held throughout")
        } catch {
            #expect(error.code == .timedOut)
        }
        #expect(sandbox.lockExists)
    }
}
