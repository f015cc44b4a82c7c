extension WriterLock {
    /// Takes the lock (waiting as long as `timeout` allows), runs `body`, and
    /// releases the lock on every exit path, thrown errors included.
    ///
    /// `body` runs on the calling thread; if the lock is found lost while it runs,
    /// ``LockScope/isHeld`` turns false, and `withLock` throws
    /// ``LockError/Code/lockLost`` (or ``LockError/Code/takenOver``) after it returns.
    public func withLock<R>(
        timeout: Duration? = nil,
        onProgress: ((WaitProgress) -> Void)? = nil,
        _ body: (LockScope) throws -> R
    ) throws -> R {
        let handle = try acquire(timeout: timeout, onProgress: onProgress)
        let scope = handle.scope
        let result = Result { try body(scope) }
        try finish(handle, lost: !scope.isHeld)
        return try result.get()
    }

    /// Takes the lock (waiting as long as `timeout` allows, or until the task is
    /// cancelled), runs `body`, and releases the lock on every exit path.
    ///
    /// If the lock is found lost while `body` runs, `body` is cancelled at once and
    /// `withLock` throws ``LockError/Code/lockLost`` when it has returned.
    public func withLock<R: Sendable>(
        timeout: Duration? = nil,
        onProgress: (@Sendable (WaitProgress) -> Void)? = nil,
        _ body: @escaping @Sendable (LockScope) async throws -> R
    ) async throws -> R {
        let handle = try await acquire(timeout: timeout, onProgress: onProgress)
        let scope = handle.scope
        let task = Task { try await body(scope) }
        let lossHandler = handle.held.onLoss { task.cancel() }
        let result = await withTaskCancellationHandler {
            await task.result
        } onCancel: {
            task.cancel()
        }
        handle.held.removeLossHandler(lossHandler)
        try finish(handle, lost: !scope.isHeld)
        return try result.get()
    }

    /// Releases; a lock lost or taken over outranks the body's own outcome,
    /// because what the body wrote may have overlapped another writer.
    private func finish(_ handle: consuming LockHandle, lost: Bool) throws(LockError) {
        let lockFile = handle.lockFile
        do {
            try handle.release()
        } catch {
            // Lost while the body ran: report the loss the body saw, not the release's view of it.
            guard lost, error.code == .takenOver else { throw error }
            throw .lost(lockFile, status: error.status)
        }
        if lost { throw .lost(lockFile, status: try? status()) }
    }
}
