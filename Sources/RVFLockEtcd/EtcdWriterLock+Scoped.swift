import RVFLock

extension EtcdWriterLock {
    /// Takes the lock (waiting as long as `timeout` allows, or until the task is
    /// cancelled), runs `body` on the caller's actor, and releases the lock file
    /// and then the lease on every exit path.
    ///
    /// If either half is lost while `body` runs (the lease lost, or its key
    /// deleted; the lock file removed or replaced), the calling task is
    /// cancelled at once, ``EtcdLockScope/isHeld`` turns false, and `withLock`
    /// throws `LockError.lockLost` when `body` returns: the loss outranks the
    /// body's own error, as for `WriterLock`.
    ///
    /// - Throws: what ``acquire(timeout:onWaiting:)`` throws; `LockError.lockLost`;
    ///   otherwise whatever `body` throws.
    public func withLock<R, E: Error>(
        timeout: Duration? = nil,
        onWaiting: (@Sendable (EtcdLockHolder) -> Void)? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (EtcdLockScope) async throws(E) -> sending R
    ) async throws -> sending R {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let lease = try await acquireLease(deadline: deadline, waiting: true, onWaiting: onWaiting)
        let outcome: Result<R, E>
        do {
            // The core's withLock cancels this task if the lock file is lost; the
            // lease's loss handler below does the same for the lease.
            outcome = try await fileLock.withLock(
                timeout: deadline.map { max($0 - .now, .zero) }, isolation: isolation
            ) { (file) async throws(LockError) -> sending Result<R, E> in
                let scope = EtcdLockScope(file: file, lease: lease)
                let canceller = withUnsafeCurrentTask { CurrentTaskCanceller($0) }
                let handler = lease.onLoss { canceller.cancel() }
                let result: Result<R, E>
                do throws(E) {
                    result = .success(try await body(scope))
                } catch {
                    result = .failure(error)
                }
                // Before withLock returns: removing the handler waits out a run of it under way.
                lease.removeLossHandler(handler)
                return result
            }
        } catch {
            let lostLease = !lease.isHeld
            await lease.release()
            if lostLease, error.code == .lockLost {
                throw Self.lost(lease, lockFile: fileLock.lockFile, dataFile: dataFile)
            }
            throw error
        }
        let lostLease = !lease.isHeld
        await lease.release()
        if lostLease { throw Self.lost(lease, lockFile: fileLock.lockFile, dataFile: dataFile) }
        return try outcome.get()
    }

    /// The error for a lease lost while held.
    static func lost(_ lease: EtcdLease, lockFile: FilePath, dataFile: FilePath) -> LockError {
        LockError(
            coordinated: .lockLost, lockFile: lockFile,
            message: "the etcd lease of \(dataFile) (key \(lease.key), fencing token \(lease.fencingToken)) was lost "
                + "while this process held it: \(lease.lossReason ?? "released"); stop writing: another writer may be "
                + "active; writes fenced with token \(lease.fencingToken) are refused once a newer holder has stamped its own")
    }
}

/// Cancels the task that runs `withLock`, from the task that finds the lease lost.
///
/// Swift offers no `Task` handle for the current task; `UnsafeCurrentTask.cancel()`
/// is what `Task.cancel()` calls, and may be called from elsewhere while the task
/// lives. Why this wrapper may be `@unchecked Sendable`: `withLock` creates it in
/// the task itself and removes the loss handler that holds it
/// (``EtcdLease/removeLossHandler(_:)`` waits out a run under way) before its
/// body's closure returns, so `cancel()` only runs while the task is running.
private struct CurrentTaskCanceller: @unchecked Sendable {
    private let task: UnsafeCurrentTask?

    init(_ task: UnsafeCurrentTask?) { self.task = task }

    func cancel() { task?.cancel() }
}
