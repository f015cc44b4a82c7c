import RVFLock

/// RVFLock in the worker loop: `acquire(timeout:)` up to the end, `release()`.
final class RVFLockContender: Contender {
    private let lock: WriterLock
    /// The handle while held. A class holds it because a handle is noncopyable
    /// and the worker loop is shared with kernel flock, which has no handle.
    private var handle: LockHandle?

    init(_ lock: WriterLock) { self.lock = lock }

    func acquire(before end: UInt64) throws -> Bool {
        let now = Syscalls.monotonicNanoseconds()
        guard now < end else { return false }
        do throws(LockError) {
            handle = try lock.acquire(timeout: .nanoseconds(Int64(end - now)))
            return true
        } catch {
            guard error.code == .timedOut || error.code == .busy else { throw error }
            return false
        }
    }

    func release() throws {
        guard let held = handle.take() else { throw BenchFailure("release without a held RVFLock") }
        try held.release()
    }
}
