package import SystemPackage

/// For `rvf-lock exec`, not for general use: the kernel lock's descriptor, so
/// that a command run under the lock can inherit it and keep the lock alive for
/// as long as any process it starts is alive.
extension LockScope {
    /// The descriptor on which this holder keeps the lock file's `flock()`
    /// (close-on-exec, number 3 or above); nil once the lock is released.
    ///
    /// Never close it, and clear close-on-exec only in a child process:
    /// the handle closes it on release.
    package var kernelLockDescriptor: FileDescriptor? { held.descriptor }
}

extension LockScope {
    /// Calls `handler` once, on the library's monitor thread, when the lock is
    /// found removed or replaced (at once if it already was), so that a caller
    /// sleeping in `poll` can be woken instead of asking ``isHeld`` on a timer.
    /// Nothing is called after the lock is released.
    package func onLoss(_ handler: @escaping @Sendable () -> Void) {
        held.onLoss(handler)
    }
}

extension LockScope {
    /// Makes the record name `pid` as the holder's process from now on: writes it
    /// at once, with a fresh timestamp, and every heartbeat after writes that pid.
    ///
    /// For `rvf-lock exec`, whose keeper process (holding this lock's descriptor)
    /// outlives `rvf-lock` for as long as anything its command started lives: the
    /// reference implementation judges a holder on this host by the record's pid.
    ///
    /// - Throws: ``LockError/Code/lockLost`` when the lock was found lost or was
    ///   released; ``LockError/Code/systemCallFailed`` when the record cannot be written.
    package func writeRecord(naming pid: Int32) throws(LockError) {
        try held.rewriteRecord(naming: UInt32(bitPattern: pid))
    }
}
