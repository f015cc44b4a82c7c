import Synchronization

/// Pauses that the tests inject into races that are otherwise microseconds
/// wide, to show what the library does when they are lost. Not for use
/// outside RVFLock's own tests; every hook is nil (and costs one atomic load)
/// in normal use.
@_spi(Testing)
public enum TestingHooks {
    private static let hooks = Mutex<Hooks>(Hooks())

    private struct Hooks {
        var beforeRemovingJudgedFile: (@Sendable () -> Void)?
        var duringHeartbeatWrite: (@Sendable () -> Void)?
        var beforePuttingBack: (@Sendable () -> Void)?
    }

    /// Called when a lock file has been judged stale (or is being broken with
    /// force) and checked to be the file judged, just before it is removed.
    public static var beforeRemovingJudgedFile: (@Sendable () -> Void)? {
        get { hooks.withLock { $0.beforeRemovingJudgedFile } }
        set { hooks.withLock { $0.beforeRemovingJudgedFile = newValue } }
    }

    /// Called when a breaker has moved aside a file that is not the one it judged
    /// (another program replaced it in that moment), just before it puts it back.
    public static var beforePuttingBack: (@Sendable () -> Void)? {
        get { hooks.withLock { $0.beforePuttingBack } }
        set { hooks.withLock { $0.beforePuttingBack = newValue } }
    }

    /// Called by a holder's heartbeat while it writes its record, holding the
    /// lock's descriptor for I/O (as a hung `fdatasync` would).
    public static var duringHeartbeatWrite: (@Sendable () -> Void)? {
        get { hooks.withLock { $0.duringHeartbeatWrite } }
        set { hooks.withLock { $0.duringHeartbeatWrite = newValue } }
    }
}
