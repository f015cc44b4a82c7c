public import Logging

/// How a ``WriterLock`` judges other holders, keeps its own lock fresh, and waits.
///
/// The defaults match the reference implementation's thresholds, so that both
/// judge the same lock the same way; tests shorten them.
public struct LockOptions: Sendable {
    /// How old a lock from this host must be, besides its process being gone,
    /// before it counts as stale. The reference uses 30 seconds.
    ///
    /// Locks written by RVFLock on this machine do not wait for this: the kernel
    /// proves their holder gone at once (see <doc:Protocol>).
    public var sameHostStaleAfter: Duration = .seconds(30)

    /// How old a lock from another host must be before it counts as stale.
    /// The reference uses 300 seconds. A live RVFLock holder never gets this old,
    /// because its heartbeat keeps rewriting the timestamp.
    public var otherHostStaleAfter: Duration = .seconds(300)

    /// How often a holder rewrites its timestamp and checks that the lock is
    /// still its own. Nil picks a sixth of ``sameHostStaleAfter``, at most 5 seconds.
    public var heartbeatInterval: Duration?

    /// The longest a waiter sleeps between two looks at the lock when no file
    /// system event wakes it (network file systems deliver none for other hosts' changes).
    public var maximumPollInterval: Duration = .milliseconds(500)

    /// Where the library reports breaking stale locks and losing held ones; nil
    /// reports nothing.
    public var logger: Logger?

    /// When the lock file is synced to stable storage (`fsync`): on creation and
    /// at each heartbeat. See ``SyncPolicy``.
    public var syncPolicy: SyncPolicy = .automatic

    /// Forces named temporary files instead of Linux `O_TMPFILE` when creating a
    /// lock file, as on file systems without `O_TMPFILE`. For testing the fallback.
    public var usesNamedTemporaryFiles = false

    /// Creates options with the reference's thresholds and a 5-second heartbeat.
    public init() {}

    /// The heartbeat interval in force: ``heartbeatInterval`` or its default.
    public var effectiveHeartbeatInterval: Duration {
        if let heartbeatInterval { return heartbeatInterval }
        let sixth = sameHostStaleAfter / 6
        return min(sixth, .seconds(5))
    }
}

/// When RVFLock syncs a lock file (`fsync`), on creation and at each heartbeat.
///
/// On a local file system every process on the machine reads the same page
/// cache, so an unsynced lock file is seen by all of them at once; and after a
/// power loss no holder survives, so a lock file lost or left empty by the crash
/// is simply free, or invalid and broken by the usual rule. There a sync buys the
/// lock nothing. On network and FUSE file systems other machines read the
/// server's copy, which only a sync brings up to date.
public struct SyncPolicy: Hashable, Sendable, CustomStringConvertible {
    enum Kind: Hashable, Sendable { case automatic, always, never }
    let kind: Kind

    /// Sync on network, cluster and FUSE file systems and on kinds not known to
    /// RVFLock; not on local ones (ext4, xfs, btrfs, tmpfs, overlayfs, ...).
    public static let automatic = SyncPolicy(kind: .automatic)
    /// Always sync, whatever the file system.
    public static let always = SyncPolicy(kind: .always)
    /// Never sync. Safe only where every process that locks the file runs on
    /// this machine.
    public static let never = SyncPolicy(kind: .never)

    public var description: String {
        switch kind {
        case .automatic: "automatic"
        case .always: "always"
        case .never: "never"
        }
    }
}
