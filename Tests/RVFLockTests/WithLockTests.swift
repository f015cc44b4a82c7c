#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import Synchronization
import Testing

/// The scoped API: where the body runs, which overload a call picks, what it throws.
@Suite struct WithLockTests {
    let sandbox = LockSandbox()

    /// Not `Sendable`: only a body that runs in the caller's isolation may use it.
    final class Tally {
        var count = 0
    }

    /// An actor whose own state the body of `withLock` changes.
    actor Ledger {
        var entries = 0
        var bodyTask: Int?
        var callerTask: Int?

        /// A body without `await`: must resolve to the async `withLock` (the blocking
        /// one is `noasync`, so resolving to it would not compile).
        func appendOnce(_ lock: WriterLock, timeout: Duration? = nil) async throws {
            callerTask = withUnsafeCurrentTask { $0?.hashValue }
            try await lock.withLock(timeout: timeout) { scope in
                entries += 1
                bodyTask = withUnsafeCurrentTask { $0?.hashValue }
            }
        }

        /// A body that changes a value that is not `Sendable`, which the actor uses afterwards.
        ///
        /// (Swift 6.3 rejects a body that does both, touch the actor's state and such a
        /// value, with "sending risks causing data races": as for the standard library's
        /// `withTaskCancellationHandler(operation:onCancel:isolation:)`.)
        func countInTally(_ lock: WriterLock) async throws {
            let tally = Tally()
            try await lock.withLock { _ in tally.count += 100 }
            entries += tally.count
        }
    }

    @Test func asyncWithLockRunsTheBodyOnTheCallersActorInTheCallingTask() async throws {
        let ledger = Ledger()
        try await ledger.appendOnce(sandbox.lock())
        try await ledger.countInTally(sandbox.lock())
        #expect(await ledger.entries == 101)
        let callerTask = await ledger.callerTask
        #expect(callerTask != nil)
        #expect(await ledger.bodyTask == callerTask)
        #expect(!sandbox.lockExists)
    }

    @Test func asyncWithLockWithABodyWithoutAwaitIsTheCancellableAsyncOne() async throws {
        let lock = sandbox.lock()
        sandbox.plantLiveHolderOnAnotherHost()
        let ledger = Ledger()
        let waiter = Task { try await ledger.appendOnce(lock, timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(200))
        waiter.cancel()
        // The blocking overload would ignore the cancellation and wait out the 60 s.
        let result = await waiter.result
        if case .failure(let error) = result {
            #expect((error as? LockError)?.code == .cancelled, "got \(error)")
        } else {
            Issue.record("took a lock that was held throughout")
        }
        #expect(await ledger.entries == 0)
    }

    @MainActor final class Screen {
        var lines: [String] = []
    }

    @MainActor @Test func asyncWithLockOnTheMainActorUsesMainActorStateAndValuesThatAreNotSendable() async throws {
        let screen = Screen()
        let tally = Tally()
        try await sandbox.lock().withLock { scope in
            screen.lines.append(scope.lockFile.string)
            tally.count += 1
        }
        #expect(screen.lines == [sandbox.lockFile])
        #expect(tally.count == 1)
    }

    /// What the body of an async `withLock` saw of a loss, and what withLock did.
    struct LossObservation: Sendable {
        var bodyRuns = 0
        var sawCancellation = false
        var scopeHeldAfterLoss = true
        var checkHeldCode: LockError.Code?
        var thrownCode: LockError.Code?
        var taskCancelledAfterwards = false
    }

    @Test func aLostLockCancelsTheBodyWhichSeesItThroughItsScopeAndWithLockThrowsLockLost() async throws {
        let lock = sandbox.lock()
        let lockFile = sandbox.lockFile
        // In a task of its own: the loss cancels the calling task, and the test's own
        // task must not be cancelled (Swift Testing would take it as cancelling the test).
        let seen = await Task { () -> LossObservation in
            var seen = LossObservation()
            let tally = Tally()
            do {
                try await lock.withLock { scope in
                    tally.count += 1
                    unlink(lockFile)
                    do {
                        // Long enough that only the cancellation ends it within the test's time.
                        try await Task.sleep(for: .seconds(60))
                    } catch is CancellationError {
                        seen.sawCancellation = Task.isCancelled
                        seen.scopeHeldAfterLoss = scope.isHeld
                        do throws(LockError) { try scope.checkHeld() } catch { seen.checkHeldCode = error.code }
                        throw CancellationError()
                    }
                }
            } catch LockError.lockLost {
                // The documented form for this case.
                seen.thrownCode = .lockLost
            } catch {
                seen.thrownCode = (error as? LockError)?.code
            }
            seen.bodyRuns = tally.count
            // The documented consequence: a task whose lock was lost stays cancelled.
            seen.taskCancelledAfterwards = Task.isCancelled
            return seen
        }.value
        #expect(seen.bodyRuns == 1)
        #expect(seen.sawCancellation)
        #expect(!seen.scopeHeldAfterLoss)
        #expect(seen.checkHeldCode == .lockLost)
        #expect(seen.thrownCode == .lockLost)
        #expect(seen.taskCancelledAfterwards)
        #expect(!sandbox.lockExists)
    }

    @Test func aLockLostJustAsTheBodyEndsNeverCancelsAnotherTaskAndIsReported() async throws {
        // The loss handler runs on the monitor thread while withLock finishes on
        // this one; removing it must wait out a run under way, so that a
        // cancellation never reaches a task after its withLock returned.
        let lock = sandbox.lock()
        let lockFile = sandbox.lockFile
        for _ in 0..<100 {
            let outcome = await Task { () -> (cancelled: Bool, code: LockError.Code?) in
                var code: LockError.Code?
                do {
                    try await lock.withLock { _ in _ = unlink(lockFile) }
                } catch {
                    code = (error as? LockError)?.code
                }
                return (Task.isCancelled, code)
            }.value
            // Either the loss was seen in time (lockLost) or only at release (takenOver).
            #expect(outcome.code == .lockLost || outcome.code == .takenOver, "got \(String(describing: outcome.code))")
            if outcome.cancelled { #expect(outcome.code == .lockLost) }
        }
        #expect(!sandbox.lockExists)
    }

    @Test func aTaskCancelledDuringTheBodyIsNotALostLock() async throws {
        struct Stopped: Error {}
        let lock = sandbox.lock()
        let body = Task {
            try await lock.withLock { _ in
                withUnsafeCurrentTask { $0?.cancel() }
                if Task.isCancelled { throw Stopped() }
            }
        }
        await #expect(throws: Stopped.self) { try await body.value }
        #expect(!sandbox.lockExists)
    }

    @Test func withLockWhoseBodyThrowsNothingThrowsOnlyLockError() async throws {
        let lock = sandbox.lock()
        let holderID = sandbox.plantLiveHolderOnAnotherHost()
        // These compile only if withLock is `throws(LockError)` for such bodies.
        do throws(LockError) {
            try await lock.withLock(timeout: .milliseconds(100)) { _ in }
            Issue.record("took a held lock")
        } catch {
            #expect(error.code == .timedOut)
        }
        do throws(LockError) {
            try await lock.withLock(timeout: .milliseconds(100)) { (scope) throws(LockError) in try scope.checkHeld() }
            Issue.record("took a held lock")
        } catch {
            #expect(error.code == .timedOut)
        }
        sandbox.removeLockFile()
        let writerID: WriterID = try lock.withLockBlocking { (scope) throws(LockError) in
            try scope.checkHeld()
            return scope.writerID
        }
        #expect(writerID != holderID)
    }

    @Test func withLockPassesTheBodysOwnErrorThroughUnchanged() async throws {
        struct BodyFailure: Error, Equatable { let detail: String }
        let lock = sandbox.lock()
        await #expect(throws: BodyFailure(detail: "async")) {
            try await lock.withLock { _ in throw BodyFailure(detail: "async") }
        }
        #expect(!sandbox.lockExists)
        #expect(throws: BodyFailure(detail: "sync")) {
            try lock.withLockBlocking { _ throws(BodyFailure) in throw BodyFailure(detail: "sync") }
        }
        #expect(!sandbox.lockExists)
    }

    @Test func withLockWithAnyBodyStillThrowsLockErrorForTheLock() throws {
        struct BodyFailure: Error {}
        let lock = sandbox.lock()
        sandbox.plantLiveHolderOnAnotherHost()
        var bodyRan = false
        #expect {
            try lock.withLockBlocking(timeout: .milliseconds(100)) { _ throws(BodyFailure) in
                bodyRan = true
                throw BodyFailure()
            }
        } throws: { error in
            (error as? LockError)?.code == .timedOut
        }
        #expect(!bodyRan)
    }

    @Test func writerLockTakesAStringPathAsAFilePath() {
        let path: String = sandbox.dataFile
        let fromString = WriterLock(dataFile: path)
        let fromFilePath = WriterLock(dataFile: FilePath(path))
        #expect(fromString.dataFile == fromFilePath.dataFile)
        #expect(fromString.lockFile == FilePath(path + ".lock"))
    }
}

extension WriterLock {
    /// The blocking `withLock`, called from synchronous code as its users do: an
    /// `async` test function cannot call it directly (it is `noasync`).
    func withLockBlocking<R, E: Error>(
        timeout: Duration? = nil, _ body: (LockScope) throws(E) -> R
    ) throws -> R {
        try withLock(timeout: timeout, body)
    }

    /// The blocking `withLock` whose body throws only `LockError`: typed throughout.
    func withLockBlocking<R>(
        timeout: Duration? = nil, _ body: (LockScope) throws(LockError) -> R
    ) throws(LockError) -> R {
        try withLock(timeout: timeout, body)
    }
}

extension LockSandbox {
    /// Plants the fresh lock of a writer on another host, which no one here may
    /// judge gone for 300 s; returns its writer id.
    @discardableResult
    func plantLiveHolderOnAnotherHost() -> WriterID {
        let writerID = LockFiles.randomWriterID()
        plant(LockRecord(pid: 1, hostname: "other-host", timestampNanoseconds: LockFiles.nowNanoseconds(), writerID: writerID))
        return writerID
    }

    func removeLockFile() {
        unlink(lockFile)
    }
}
