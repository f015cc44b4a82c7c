import Synchronization

/// Pauses that the tests inject into races that are otherwise microseconds
/// wide, to show what the library does when they are lost. Not for use
/// outside RVFLock's own tests; every hook is nil in normal use, and looking
/// for one costs one atomic load until a test sets one.
package enum TestingHooks {
    private static let hooks = Mutex<Hooks>(Hooks())
    /// Whether any hook was ever set: until then no lookup takes the mutex.
    private static let armed = Atomic<Bool>(false)

    private static func lookUp<T>(_ read: (borrowing Hooks) -> T?) -> T? {
        guard armed.load(ordering: .acquiring) else { return nil }
        return hooks.withLock { read($0) }
    }

    private static func store(_ write: (inout Hooks) -> Void) {
        hooks.withLock { write(&$0) }
        armed.store(true, ordering: .releasing)
    }

    private struct Hooks {
        var beforeRemovingJudgedFile: (@Sendable () -> Void)?
        var duringHeartbeatWrite: (@Sendable () -> Void)?
        var beforePuttingBack: (@Sendable () -> Void)?
    }

    /// Called when a lock file has been judged stale (or is being broken with
    /// force) and checked to be the file judged, just before it is removed.
    package static var beforeRemovingJudgedFile: (@Sendable () -> Void)? {
        get { lookUp { $0.beforeRemovingJudgedFile } }
        set { store { $0.beforeRemovingJudgedFile = newValue } }
    }

    /// Called when a breaker has moved aside a file that is not the one it judged
    /// (another program replaced it in that moment), just before it puts it back.
    package static var beforePuttingBack: (@Sendable () -> Void)? {
        get { lookUp { $0.beforePuttingBack } }
        set { store { $0.beforePuttingBack = newValue } }
    }

    /// Called by a holder's heartbeat while it writes its record, holding the
    /// lock's descriptor for I/O (as a hung `fdatasync` would).
    package static var duringHeartbeatWrite: (@Sendable () -> Void)? {
        get { lookUp { $0.duringHeartbeatWrite } }
        set { store { $0.duringHeartbeatWrite = newValue } }
    }
}
