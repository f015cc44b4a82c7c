// The scoped API: take the lock, run a body, release on every exit path.
//
// Errors: `withLock` throws a `LockError` when the lock cannot be had, is lost
// while the body runs, or is found taken over at release, and otherwise exactly
// what the body throws. Swift cannot spell "LockError or E" as one thrown type,
// so each form comes twice: when the body throws nothing or only `LockError`,
// `withLock` is `throws(LockError)`; for any other body it is `throws` (any Error),
// carrying either the body's error unchanged or a `LockError`.
//
// Which overload a call picks: a closure is typed `throws(LockError)` only when it
// says so (`{ (scope) throws(LockError) in ... }`) or throws nothing; a closure
// with `try` on anything else, or unannotated `try`, takes the general form.
//
// The blocking forms are `@_disfavoredOverload` and `noasync`: in an `async`
// function, `try await lock.withLock { ... }` must choose the async form even when
// the body has no `await` (a synchronous closure would otherwise match the blocking
// form better and hold a thread of the concurrency pool while it waits).

extension WriterLock {
    /// Takes the lock (waiting as long as `timeout` allows), runs `body`, and
    /// releases the lock on every exit path, thrown errors included.
    ///
    /// `body` runs on the calling thread. If the lock is found lost while it runs,
    /// ``LockScope/isHeld`` turns false (and ``LockScope/checkHeld()`` throws), and
    /// `withLock` throws ``LockError/Code/lockLost`` when `body` returns.
    ///
    /// - Throws: a ``LockError`` when the lock cannot be had (``LockError/Code/timedOut``, ...),
    ///   was lost while `body` ran (``LockError/Code/lockLost``), or was found taken over at
    ///   release (``LockError/Code/takenOver``); otherwise whatever `body` throws. A lost or
    ///   taken-over lock outranks the body's error: what the body wrote may have
    ///   overlapped another writer.
    @_disfavoredOverload
    @available(*, noasync, message: "blocks the thread while it waits; use the async withLock (try await lock.withLock { ... })")
    public func withLock<R, E: Error>(
        timeout: Duration? = nil,
        onProgress: ((WaitProgress) -> Void)? = nil,
        _ body: (LockScope) throws(E) -> R
    ) throws -> R {
        try blockingWithLock(timeout: timeout, onProgress: onProgress, body).get()
    }

    /// Takes the lock, runs `body`, and releases the lock on every exit path; the
    /// form for a body that throws nothing or only ``LockError``, so that
    /// `withLock` itself throws only `LockError`.
    ///
    /// Otherwise as the general form, ``withLock(timeout:onProgress:_:)-92viq``.
    @_disfavoredOverload
    @available(*, noasync, message: "blocks the thread while it waits; use the async withLock (try await lock.withLock { ... })")
    public func withLock<R>(
        timeout: Duration? = nil,
        onProgress: ((WaitProgress) -> Void)? = nil,
        _ body: (LockScope) throws(LockError) -> R
    ) throws(LockError) -> R {
        try blockingWithLock(timeout: timeout, onProgress: onProgress, body).get()
    }

    /// Takes the lock (waiting as long as `timeout` allows, or until the task is
    /// cancelled), runs `body` on the caller's actor, and releases the lock on
    /// every exit path.
    ///
    /// `body` runs in the calling task, isolated as the caller is: inside an actor
    /// it may use the actor's state, and it may use values that are not `Sendable`.
    /// Only the wait for the lock leaves the caller's isolation (it sleeps on a
    /// thread of its own, holding no thread of the concurrency pool).
    ///
    /// If the lock is lost while `body` runs (its lock file removed or replaced),
    /// the calling task is cancelled at once, as a parent task's cancellation would:
    /// `Task.isCancelled` turns true and cancellable waits such as `Task.sleep`
    /// throw `CancellationError`. `body` can also ask directly:
    /// ``LockScope/isHeld`` turns false, and ``LockScope/checkHeld()`` throws
    /// ``LockError/Code/lockLost``. When `body` has returned or thrown, `withLock`
    /// throws ``LockError/Code/lockLost``. The task stays cancelled afterwards (Swift
    /// cannot undo a cancellation): a task whose lock was lost should stop.
    ///
    /// ```swift
    /// actor Compactor {
    ///     var runs = 0
    ///     func compact(_ lock: WriterLock) async throws {
    ///         try await lock.withLock(timeout: .seconds(10)) { scope in
    ///             runs += 1                           // the actor's own state
    ///             for chunk in 0..<100 {
    ///                 try Task.checkCancellation()    // stops here if the lock is lost
    ///                 try await compactChunk(chunk)
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// - Note: Swift 6.3 rejects a body that uses both the actor's state and a local
    ///   value that is not `Sendable` which the caller uses again afterwards ("sending
    ///   ... risks causing data races"), as it does for the standard library's
    ///   `withTaskCancellationHandler(operation:onCancel:isolation:)`. Keep such a value
    ///   in the actor, or do not use it after `withLock`.
    ///
    /// - Throws: a ``LockError`` when the lock cannot be had (``LockError/Code/timedOut``,
    ///   ``LockError/Code/cancelled``, ...), was lost while `body` ran
    ///   (``LockError/Code/lockLost``), or was found taken over at release; otherwise
    ///   whatever `body` throws. A lost lock outranks the body's error.
    public func withLock<R, E: Error>(
        timeout: Duration? = nil,
        onProgress: (@Sendable (WaitProgress) -> Void)? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (LockScope) async throws(E) -> sending R
    ) async throws -> sending R {
        try await scopedWithLock(timeout: timeout, onProgress: onProgress, body).get()
    }

    /// Takes the lock, runs `body` on the caller's actor, and releases the lock on
    /// every exit path; the form for a body that throws nothing or only
    /// ``LockError``, so that `withLock` itself throws only `LockError`.
    ///
    /// Otherwise as the general form, ``withLock(timeout:onProgress:isolation:_:)-5qbfu``.
    public func withLock<R>(
        timeout: Duration? = nil,
        onProgress: (@Sendable (WaitProgress) -> Void)? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (LockScope) async throws(LockError) -> sending R
    ) async throws(LockError) -> sending R {
        try await scopedWithLock(timeout: timeout, onProgress: onProgress, body).get()
    }

    /// The synchronous `withLock`: lock failures thrown, the body's outcome returned.
    private func blockingWithLock<R, E: Error>(
        timeout: Duration?,
        onProgress: ((WaitProgress) -> Void)?,
        _ body: (LockScope) throws(E) -> R
    ) throws(LockError) -> Result<R, E> {
        let cancellation: WaitCancellation
        do throws(SystemCallError) { cancellation = try WaitCancellation() } catch {
            throw .system(error, lockFile: lockFile, doing: "waiting for")
        }
        let handle = LockHandle(
            try acquireHeldLock(
                waiting: Waiting(timeout: timeout, cancellation: cancellation, onProgress: onProgress), owner: .current))
        let scope = handle.scope
        // The body's own acquisitions of this lock would wait for itself: they fail at once.
        let result = ProcessQueue.$insideWithLock.withValue(ProcessQueue.insideWithLock + [scope.held.location.key]) {
            Result { () throws(E) in try body(scope) }
        }
        try finish(handle, lost: !scope.isHeld)
        return result
    }

    /// The asynchronous `withLock`: lock failures thrown, the body's outcome returned.
    private func scopedWithLock<R, E: Error>(
        timeout: Duration?,
        onProgress: (@Sendable (WaitProgress) -> Void)?,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (LockScope) async throws(E) -> sending R
    ) async throws(LockError) -> sending Result<R, E> {
        let handle = try await acquire(timeout: timeout, onProgress: onProgress)
        let scope = handle.scope
        let canceller = withUnsafeCurrentTask { CurrentTaskCanceller($0) }
        let lossHandler = handle.held.onLoss { canceller.cancel() }
        // The body's own acquisitions of this lock would wait for itself: they fail at once.
        let inside = ProcessQueue.insideWithLock + [scope.held.location.key]
        // `withValue` does not pass on that the body's result is `sending`: it is
        // disconnected from everything else all the same (the body made it, and
        // nothing else saw it), which `nonisolated(unsafe)` tells the compiler.
        nonisolated(unsafe) let result: Result<R, E> = await ProcessQueue.$insideWithLock.withValue(inside) {
            do throws(E) {
                return .success(try await body(scope))
            } catch {
                return .failure(error)
            }
        }
        // Before this task can end: removing the handler waits out a run of it already
        // under way, so that it never touches the task once withLock has returned.
        handle.held.removeLossHandler(lossHandler)
        try finish(handle, lost: !scope.isHeld)
        return result
    }

    /// Releases; a lock lost or taken over outranks the body's own outcome,
    /// because what the body wrote may have overlapped another writer.
    private func finish(_ handle: consuming LockHandle, lost: Bool) throws(LockError) {
        let lockFile = handle.lockFile
        let held = handle.held
        do {
            try handle.release()
        } catch {
            // Lost while the body ran: report the loss the body saw, not the release's view of it.
            guard lost, error.code == .takenOver else { throw error }
            throw .lost(lockFile, status: error.status)
        }
        if lost { throw .lost(lockFile, status: held.currentStatus()) }
    }
}

/// Cancels the task that runs an async `withLock`, from the thread that finds the lock lost.
///
/// Swift offers no `Task` handle for the current task; `UnsafeCurrentTask.cancel()`
/// is what `Task.cancel()` calls. Its documentation allows calling, from another
/// thread, only the operations that `Task` also has (`cancel()` is one), and only
/// while the task is alive; it is not `Sendable` for that reason, and why this
/// wrapper may be `@unchecked Sendable`: `withLock` creates it in the task itself,
/// and removes the loss handler that holds it (``HeldLock/removeLossHandler(_:)``
/// waits out a run already under way) before `withLock` returns, so `cancel()` only
/// ever runs while `withLock`, and so the task, is still running.
private struct CurrentTaskCanceller: @unchecked Sendable {
    private let task: UnsafeCurrentTask?

    init(_ task: UnsafeCurrentTask?) { self.task = task }

    func cancel() { task?.cancel() }
}
