public import SystemPackage

/// A held writer lock.
///
/// While it exists, a heartbeat keeps the lock file's timestamp fresh and a watch
/// notices at once if the lock file is removed or replaced (``isHeld`` turns
/// false). Release it with ``release()``, which reports a lock found taken over;
/// dropping the handle releases it too, reporting nothing.
///
/// Most callers use `withLock` instead, which releases on every exit path.
///
/// ## Keeping a handle in a class or an actor
///
/// A handle is noncopyable: keep it in an optional stored property, and release
/// it through the optional itself, which leaves `nil` behind:
///
/// ```swift
/// actor Ingest {
///     private var handle: LockHandle?
///
///     func start() throws {
///         handle = try WriterLock(dataFile: "data.rvf").tryAcquire()
///     }
///
///     func stop() throws {
///         try handle.release()    // not `handle?.release()`
///     }
/// }
/// ```
///
/// `try handle?.release()` does not compile: releasing consumes the handle, and
/// Swift may not move a value out of a class's or actor's stored property (it
/// says the property "cannot be consumed when captured by an escaping closure",
/// though there is no closure). `handle.release()` on the optional (see
/// `Optional.release()`) takes the handle out first, as `handle.take()?.release()`
/// does. Setting the property to `nil` releases the lock too, reporting nothing.
///
/// - Important: Swift may end a value's lifetime right after its last use, not
///   at the end of its scope, and dropping the handle releases the lock. Code that
///   takes the lock with `let handle = try lock.acquire()` and then writes without
///   touching `handle` again can lose the lock before writing. End such code with
///   `try handle.release()`, or use `withLock`.
public struct LockHandle: ~Copyable, Sendable {
    let held: HeldLock

    init(_ held: HeldLock) { self.held = held }

    deinit { held.releaseQuietly() }

    /// The lock file (`data.rvf.lock`).
    public var lockFile: FilePath { held.lockFile }
    /// The data file the lock protects (`data.rvf`).
    public var dataFile: FilePath { held.dataFile }
    /// The identity of this acquisition, as written in the lock file.
    public var writerID: WriterID { held.writerID }
    /// The record as last written by this holder (the timestamp moves with each heartbeat).
    public var record: LockRecord { held.record }

    /// False once the lock file was found removed or replaced, or after release.
    ///
    /// Kept current by a file system watch on Linux, and by the heartbeat's check
    /// elsewhere; ``checkHeld()`` asks the file system directly.
    public var isHeld: Bool { held.isHeld }

    /// Verifies, with a system call, that the lock file is still this holder's.
    ///
    /// Call it before a write that must not happen without the lock.
    /// - Throws: ``LockError/Code/lockLost`` naming the lock file's current state.
    public func checkHeld() throws(LockError) { try held.checkHeld() }

    /// A copyable view of this lock, for code that cannot borrow the handle.
    public var scope: LockScope { LockScope(held) }

    /// Removes the lock file if it is still this holder's.
    ///
    /// - Throws: ``LockError/Code/takenOver`` when the lock file was removed or
    ///   replaced by another writer meanwhile; it is left as it is.
    public consuming func release() throws(LockError) {
        try held.release()
    }
}

/// A copyable, sendable view of a held lock, given to the body of `withLock`.
///
/// It cannot release the lock; `withLock` does that when the body returns. A body
/// learns that the lock was lost through ``isHeld`` (false at once, from the file
/// system watch) or ``checkHeld()`` (asks the file system now); the body of the
/// async `withLock` is also cancelled (`Task.isCancelled`).
public struct LockScope: Sendable {
    let held: HeldLock

    init(_ held: HeldLock) { self.held = held }

    /// The lock file (`data.rvf.lock`).
    public var lockFile: FilePath { held.lockFile }
    /// The data file the lock protects.
    public var dataFile: FilePath { held.dataFile }
    /// The identity of this acquisition.
    public var writerID: WriterID { held.writerID }
    /// The record as last written by this holder.
    public var record: LockRecord { held.record }
    /// False once the lock was found lost, or after release.
    public var isHeld: Bool { held.isHeld }
    /// Verifies, with a system call, that the lock file is still this holder's.
    public func checkHeld() throws(LockError) { try held.checkHeld() }
}

extension Optional where Wrapped == LockHandle {
    /// Releases the lock held by this optional handle, if any, and leaves `nil`:
    /// for a handle kept in a stored property of a class or an actor, where
    /// `handle?.release()` cannot consume it (see ``LockHandle``).
    ///
    /// - Throws: ``LockError/Code/takenOver`` when the lock file was removed or
    ///   replaced by another writer meanwhile; it is left as it is.
    public mutating func release() throws(LockError) {
        try take()?.release()
    }
}
