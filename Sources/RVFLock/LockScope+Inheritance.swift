/// For `rvf-lock exec`, not for general use: the kernel lock's descriptor, so
/// that a command run under the lock can inherit it and keep the lock alive for
/// as long as any process it starts is alive.
@_spi(RVFLockCLI)
extension LockScope {
    /// The descriptor on which this holder keeps the lock file's `flock()`
    /// (close-on-exec, number 3 or above); -1 once the lock is released.
    ///
    /// Never close it, and clear close-on-exec only in a child process:
    /// the handle closes it on release.
    public var kernelLockDescriptor: CInt { held.descriptor }
}

@_spi(RVFLockCLI)
extension LockScope {
    /// Calls `handler` once, on the library's monitor thread, when the lock is
    /// found removed or replaced (at once if it already was), so that a caller
    /// sleeping in `poll` can be woken instead of asking ``isHeld`` on a timer.
    /// Nothing is called after the lock is released.
    public func onLoss(_ handler: @escaping @Sendable () -> Void) {
        held.onLoss(handler)
    }
}
