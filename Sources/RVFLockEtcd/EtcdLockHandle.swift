public import RVFLock

/// A held ``EtcdWriterLock``: the line's first place on the cluster and the lock file.
///
/// Release it with ``release()``; dropping it releases both too (the lock file at
/// once, the lease in the background, an instant later), reporting nothing. Most
/// callers use `withLock`, which releases on every exit path.
public struct EtcdLockHandle: ~Copyable, Sendable {
    /// The lock file's handle.
    let file: LockHandle
    /// The line's first place.
    public let lease: EtcdLease

    init(file: consuming LockHandle, lease: EtcdLease) {
        self.file = file
        self.lease = lease
    }

    /// The fencing token: the lease key's create revision, larger than every earlier holder's.
    public var fencingToken: Int64 { lease.fencingToken }

    /// A copyable view of the lock, for code that cannot borrow the handle.
    public var scope: EtcdLockScope { EtcdLockScope(file: file.scope, lease: lease) }

    /// False once either half was found lost, or after release.
    public var isHeld: Bool { file.isHeld && lease.isHeld }

    /// Releases the lock file, then the lease (in that order, so that no other
    /// writer gets the line's first place while this one still has the file).
    ///
    /// - Throws: `LockError.takenOver` when the lock file was found replaced
    ///   (the lease is released all the same).
    public consuming func release() async throws(LockError) {
        let lease = self.lease
        do {
            try file.release()
        } catch {
            await lease.release()
            throw error
        }
        await lease.release()
    }
}

/// A copyable, sendable view of a held ``EtcdWriterLock``, given to the body of
/// ``EtcdWriterLock/withLock(timeout:onWaiting:isolation:_:)``.
public struct EtcdLockScope: Sendable {
    /// The lock file's scope.
    public let file: LockScope
    /// The line's first place.
    public let lease: EtcdLease

    /// The fencing token: stamp it on what you write (``FencedDataFile``).
    public var fencingToken: Int64 { lease.fencingToken }
    /// The data file the lock protects.
    public var dataFile: FilePath { file.dataFile }
    /// The lock file (`data.rvf.lock`).
    public var lockFile: FilePath { file.lockFile }

    /// False once the lease or the lock file was found lost, or after release.
    public var isHeld: Bool { file.isHeld && lease.isHeld }

    /// Verifies that the lock file is still this holder's (a system call) and that
    /// the lease has not been found lost (no round trip to the cluster: the
    /// keep-alive and the key's watch keep that current).
    ///
    /// - Throws: `LockError.lockLost`.
    public func checkHeld() throws(LockError) {
        try file.checkHeld()
        if !lease.isHeld { throw EtcdWriterLock.lost(lease, lockFile: file.lockFile, dataFile: file.dataFile) }
    }
}
