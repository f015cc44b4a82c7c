#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
import Synchronization
import Testing

/// Threads and tasks of one process that want the same lock wait for their turn,
/// in arrival order, with the timeout and cancellation of any wait; only a real
/// re-entry fails at once (issue 15, item 1).
@Suite struct ProcessQueueTests {
    let sandbox = LockSandbox()

    /// Counts how many bodies run at once; records the most ever seen.
    final class Overlap: Sendable {
        private let state = Mutex((inside: 0, most: 0, entries: 0))
        func enter() {
            state.withLock {
                $0.inside += 1; $0.entries += 1; $0.most = max($0.most, $0.inside)
            }
        }
        func leave() { state.withLock { $0.inside -= 1 } }
        var most: Int { state.withLock { $0.most } }
        var entries: Int { state.withLock { $0.entries } }
    }

    @Test func tasksOfOneProcessTakeTheLockInTurn() async throws {
        let lock = sandbox.lock()
        let overlap = Overlap()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await lock.withLock(timeout: .seconds(60)) { scope in
                        overlap.enter()
                        defer { overlap.leave() }
                        #expect(scope.isHeld)
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(overlap.entries == 8)
        #expect(overlap.most == 1)
        #expect(!sandbox.lockExists)
    }

    /// The README's `Compactor`, called twice at once: actors are reentrant across
    /// `await`, so both calls reach `withLock`; the second waits for the first.
    @Test func theReadmeCompactorCalledTwiceAtOnceRunsBoth() async throws {
        actor Compactor {
            let lock: WriterLock
            var compactions = 0
            var inside = 0
            var most = 0
            init(lock: WriterLock) { self.lock = lock }

            func compact() async throws {
                try await lock.withLock(timeout: .seconds(10)) { _ in
                    compactions += 1
                    inside += 1
                    most = max(most, inside)
                    for _ in 0..<5 {
                        try Task.checkCancellation()
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    inside -= 1
                }
            }
        }
        let compactor = Compactor(lock: sandbox.lock())
        async let first: Void = compactor.compact()
        async let second: Void = compactor.compact()
        _ = try await (first, second)
        #expect(await compactor.compactions == 2)
        #expect(await compactor.most == 1)
    }

    /// Blocking waiters on threads of their own get the lock in the order they asked.
    @Test func threadsOfOneProcessGetTheLockInArrivalOrder() async throws {
        let lock = sandbox.lock()
        let handle = try lock.tryAcquire()
        let order = Mutex<[String]>([])
        let done = DispatchGroup()
        for name in ["first", "second", "third"] {
            let waiting = DispatchSemaphore(value: 0)
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do throws(LockError) {
                    let taken = try lock.acquire(timeout: .seconds(60)) { _ in waiting.signal() }
                    order.withLock { $0.append(name) }
                    try taken.release()
                } catch {
                    order.withLock { $0.append("\(name): \(error)") }
                    waiting.signal()
                }
            }
            // In line (it reported its wait) before the next one asks.
            #expect(waiting.wait(timeout: .now() + 60) == .success)
        }
        try handle.release()
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(order.withLock { $0 } == ["first", "second", "third"])
    }

    @Test func aWaitInLineEndsByItsTimeoutOrItsCancellation() async throws {
        let lock = sandbox.lock()
        let handle = try lock.tryAcquire()
        let timedOut = await Task.detached { () -> LockError? in
            LockError.caught { () throws(LockError) in try lock.acquire(timeout: .milliseconds(200)) }
        }.value
        #expect(timedOut?.code == .timedOut, "\(String(describing: timedOut))")
        #expect(timedOut?.description.contains("another thread or task of this process") == true, "\(String(describing: timedOut))")

        let waiter = Task { () -> LockError? in
            do throws(LockError) {
                _ = try await lock.acquire(timeout: .seconds(60))
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        waiter.cancel()
        #expect(await waiter.value?.code == .cancelled)
        #expect(sandbox.lockRecord?.writerID == handle.writerID)
        // Not waiting: another task's lock is busy.
        let busy = await Task.detached { () -> LockError? in
            LockError.caught { () throws(LockError) in try lock.tryAcquire() }
        }.value
        #expect(busy?.code == .busy)
        try handle.release()
    }

    /// Re-entries that would wait for themselves fail at once, and say which.
    @Test func aRealReentryFailsAtOnceAndSaysWhich() async throws {
        let lock = sandbox.lock()
        try await lock.withLock(timeout: .seconds(10)) { _ in
            do throws(LockError) {
                try await lock.withLock(timeout: .seconds(60)) { _ in _ = Issue.record("entered twice") }
            } catch {
                #expect(error.code == .heldByThisProcess)
                #expect(error.description.contains("inside its own withLock body"), "\(error)")
            }
            // A child task of the body inherits what the body holds.
            async let child: LockError? = { () async -> LockError? in
                do throws(LockError) {
                    _ = try await lock.acquire(timeout: .seconds(60))
                    return nil
                } catch {
                    return error
                }
            }()
            #expect(await child?.code == .heldByThisProcess)
        }
        // The same thread's blocking call while it holds the lock through a handle.
        let sameThread = await Task.detached { () -> LockError? in
            let handle = try? lock.tryAcquire()
            defer { _ = handle }
            return LockError.caught { () throws(LockError) in try lock.acquire(timeout: .seconds(60)) }
        }.value
        #expect(sameThread?.code == .heldByThisProcess)
        #expect(!sandbox.lockExists)
    }
}
