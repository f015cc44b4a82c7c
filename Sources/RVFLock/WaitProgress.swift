/// What a waiter reports each time it finds the lock still taken.
public struct WaitProgress: Sendable {
    /// The lock file's state at the last look.
    public let status: LockStatus
    /// How long this wait has lasted so far.
    public let waited: Duration
    /// How many times the lock was tried so far.
    public let attempts: Int

    /// Creates a progress report; the library makes these while it waits.
    init(status: LockStatus, waited: Duration, attempts: Int) {
        self.status = status
        self.waited = waited
        self.attempts = attempts
    }
}
