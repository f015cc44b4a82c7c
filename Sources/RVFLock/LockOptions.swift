public import Logging

/// How a ``WriterLock`` judges other holders, keeps its own lock fresh, and waits.
///
/// The defaults match the reference implementation's thresholds, so that both
/// judge the same lock the same way; tests shorten them.
///
/// The thresholds must be positive and the intervals at least
/// ``shortestInterval`` (1 ms): a zero or negative interval would make the
/// heartbeat or a waiter a busy loop, and a zero threshold would call every
/// lock stale. Options outside these bounds are not clamped: every operation of
/// a ``WriterLock`` made with them (taking, inspecting, waiting for, breaking its
/// lock) fails with ``LockError/Code/invalidOptions``, naming the option, before
/// it touches a file.
public struct LockOptions: Sendable {
    /// How old a lock from this host must be, besides its process being gone,
    /// before it counts as stale. The reference uses 30 seconds. Must be positive.
    ///
    /// Locks written by RVFLock on this machine do not wait for this: the kernel
    /// proves their holder gone at once (see <doc:Protocol>).
    public var sameHostStaleAfter: Duration = .seconds(30)

    /// How old a lock from another host must be before it counts as stale.
    /// The reference uses 300 seconds. A live RVFLock holder never gets this old,
    /// because its heartbeat keeps rewriting the timestamp. Must be positive.
    public var otherHostStaleAfter: Duration = .seconds(300)

    /// How often a holder rewrites its timestamp and checks that the lock is
    /// still its own. Nil picks a sixth of ``sameHostStaleAfter``, at most 5
    /// seconds and at least ``shortestInterval``. When set, at least ``shortestInterval``.
    public var heartbeatInterval: Duration?

    /// The longest a waiter sleeps between two looks at the lock when no file
    /// system event wakes it (network file systems deliver none for other hosts'
    /// changes). At least ``shortestInterval``.
    public var maximumPollInterval: Duration = .milliseconds(500)

    /// Whether a data file whose name ends in `.lock` is accepted; its lock is
    /// then `NAME.lock.lock`.
    ///
    /// Off by default, because such a name is nearly always a lock file given by
    /// mistake (`data.rvf.lock` for `data.rvf`): locking it would lock
    /// `data.rvf.lock.lock` and exclude nobody. Every operation on such a path
    /// fails with ``LockError/Code/invalidPath``, naming the data file the lock
    /// file belongs to; the same holds when the data file is a symbolic link to
    /// such a name. Set this only for a data file that really is named so.
    /// (`rvf-lock` has the same rule, and `--allow-lock-suffix`.)
    public var allowsLockSuffix = false

    /// The shortest heartbeat and poll interval accepted: 1 millisecond.
    public static let shortestInterval: Duration = .milliseconds(1)

    /// Where the library reports breaking stale locks and losing held ones; nil
    /// reports nothing.
    public var logger: Logger?

    /// When the lock file is synced to stable storage (`fsync`): on creation and
    /// at each heartbeat. See ``SyncPolicy``.
    public var syncPolicy: SyncPolicy = .automatic

    /// Forces named temporary files instead of Linux `O_TMPFILE` when creating a
    /// lock file, as on file systems without `O_TMPFILE`. For testing the fallback
    /// (RVFLock's tests, and `rvf-lock selftest`).
    package var usesNamedTemporaryFiles = false

    /// Creates options with the reference's thresholds and a 5-second heartbeat.
    public init() {}

    /// The heartbeat interval in force: ``heartbeatInterval`` or its default,
    /// never shorter than ``shortestInterval`` (so never a busy loop, even for
    /// options that ``WriterLock`` would refuse).
    public var effectiveHeartbeatInterval: Duration {
        // A sixth in whole nanoseconds: Duration's own division is generic, and costs
        // a noticeable part of an uncontended acquisition, which asks for this once.
        let sixth = Duration.nanoseconds(Int64(clamping: sameHostStaleAfter.nanoseconds / 6))
        let interval = heartbeatInterval ?? min(sixth, .seconds(5))
        return max(interval, Self.shortestInterval)
    }

    /// The first option that cannot work, as a sentence, or nil when all can.
    var problem: String? {
        if sameHostStaleAfter <= .zero {
            return "LockOptions.sameHostStaleAfter is \(sameHostStaleAfter); it must be positive (the reference uses 30 s)"
        }
        if otherHostStaleAfter <= .zero {
            return "LockOptions.otherHostStaleAfter is \(otherHostStaleAfter); it must be positive (the reference uses 300 s)"
        }
        if let heartbeatInterval, heartbeatInterval < Self.shortestInterval {
            return "LockOptions.heartbeatInterval is \(heartbeatInterval); it must be at least \(Self.shortestInterval) "
                + "(nil picks a sixth of sameHostStaleAfter, at most 5 s)"
        }
        if maximumPollInterval < Self.shortestInterval {
            return "LockOptions.maximumPollInterval is \(maximumPollInterval); it must be at least \(Self.shortestInterval) "
                + "(the default is 500 ms)"
        }
        return nil
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
