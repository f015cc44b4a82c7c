#if !os(Linux)
#error(
    "RVFLock runs on Linux only: it relies on flock(2), O_TMPFILE, renameat2, inotify, timerfd and /proc; see the Protocol article (\"Porting\") for what another system would need"
)
#endif

import Glibc
import Logging
public import SystemPackage

/// The RVF writer lock of one data file: at most one writer at a time, across
/// processes and hosts that share the file system; readers never lock.
///
/// The lock is a 104-byte file beside the data file (`data.rvf.lock` for
/// `data.rvf`), byte-compatible with the reference implementation, which it
/// excludes and is excluded by.
///
/// ```swift
/// let lock = WriterLock(dataFile: "data.rvf")
/// try lock.withLock(timeout: .seconds(10)) { scope in
///     try appendRecords(to: "data.rvf")
/// }
/// ```
///
/// A `WriterLock` is a description, cheap to create and share; each
/// acquisition returns its own ``LockHandle``.
public struct WriterLock: Sendable {
    /// The data file the lock protects.
    public let dataFile: FilePath
    /// The lock file: the data file's path with `.lock` appended.
    public let lockFile: FilePath
    /// Thresholds, heartbeat and waiting settings.
    public let options: LockOptions

    let identity: HostIdentity
    /// The path was given as text ending in `/`, which names a directory;
    /// `FilePath` drops that slash, so it is remembered here and refused when used.
    let namesDirectory: Bool

    /// Describes the writer lock of `dataFile`; touches no file.
    ///
    /// The path and the options are checked when the lock is used: a data file
    /// whose name ends in `.lock` (unless ``LockOptions/allowsLockSuffix``) fails
    /// with ``LockError/Code/invalidPath``, options that cannot work with
    /// ``LockError/Code/invalidOptions``.
    public init(dataFile: FilePath, options: LockOptions = LockOptions()) {
        self.init(dataFile: dataFile, options: options, identity: .current)
    }

    /// Describes the writer lock of the data file at `path` (`"data.rvf"`); touches no file.
    ///
    /// A path ending in `/` names a directory, not a data file, and a name ending
    /// in `.lock` a lock file (unless ``LockOptions/allowsLockSuffix``): taking,
    /// inspecting or breaking its lock fails with ``LockError/Code/invalidPath``.
    public init(dataFile path: String, options: LockOptions = LockOptions()) {
        self.init(dataFile: FilePath(path), options: options, identity: .current, namesDirectory: path.hasSuffix("/"))
    }

    init(dataFile: FilePath, options: LockOptions, identity: HostIdentity, namesDirectory: Bool = false) {
        self.dataFile = dataFile
        self.lockFile = Self.lockFile(for: dataFile)
        self.options = options
        self.identity = identity
        self.namesDirectory = namesDirectory
    }

    /// Where this lock's file lives, fixed for one operation; first refuses
    /// options that cannot work and paths that cannot have a lock.
    func resolveLocation() throws(LockError) -> LockLocation {
        if let problem = options.problem {
            throw LockError(
                .invalidOptions, lockFile: lockFile,
                message: "\(problem); nothing was done to \(lockFile)")
        }
        if namesDirectory {
            throw LockError(
                .invalidPath, lockFile: lockFile,
                message: "\(dataFile)/ names a directory; an RVF writer lock protects a data file, name the file")
        }
        try refuseLockSuffix(of: dataFile, reachedAs: nil)
        let location = try LockLocation.resolve(dataFile: dataFile, lockFile: lockFile)
        if location.lockFile != lockFile {
            // The data file is a symbolic link: the name it leads to counts too.
            try refuseLockSuffix(
                of: FilePath(String(location.lockFile.string.dropLast(Self.lockSuffix.count))),
                reachedAs: dataFile)
        }
        return location
    }

    /// What a lock file's name adds to its data file's.
    static let lockSuffix = ".lock"

    /// Refuses a data file named like a lock file (`d.rvf.lock`), unless the options allow it.
    private func refuseLockSuffix(of path: FilePath, reachedAs link: FilePath?) throws(LockError) {
        // The text's last five bytes, ".lock", hold no "/": they end the last component.
        // Compared as C bytes: FilePath's string and components cost microseconds, on every acquisition.
        guard !options.allowsLockSuffix,
            path.withPlatformString({ path in
                let length = strlen(path)
                return length >= 5 && strcmp(path + length - 5, ".lock") == 0
            }),
            let name = path.lastComponent?.string
        else { return }
        let owner = String(path.string.dropLast(Self.lockSuffix.count))
        let which = link.map { "\($0) leads to \(path), which" } ?? "\(path)"
        let dataFileHint = name == Self.lockSuffix ? "" : "; the data file is \(owner): name that to lock it"
        throw LockError(
            .invalidPath, lockFile: lockFile,
            message: "\(which) is a lock file, not a data file\(dataFileHint) "
                + "(if \(path) really is a data file, set LockOptions.allowsLockSuffix)")
    }

    /// The lock file of a data file: `data.rvf` → `data.rvf.lock`.
    public static func lockFile(for dataFile: FilePath) -> FilePath {
        FilePath(dataFile.string + ".lock")
    }

    /// Takes the lock if it is free or stale, without waiting.
    ///
    /// - Throws: ``LockError/Code/busy`` naming the holder when another writer has it.
    public func tryAcquire() throws(LockError) -> LockHandle {
        LockHandle(try acquireHeldLock(waiting: nil, owner: .current))
    }

    /// Takes the lock, waiting for it as long as `timeout` allows (nil: forever).
    ///
    /// While an RVFLock holder has the lock, the waiting thread sleeps in the
    /// kernel's queue for the holder's `flock()`, so waiters get the lock in
    /// arrival order; for other holders (the reference implementation, another
    /// machine) it sleeps until the file system reports a change to the lock
    /// file, or until a bounded poll interval passes.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait at most; nil waits until the lock is had.
    ///   - onProgress: called each time the lock is found still taken, before sleeping.
    /// - Throws: ``LockError/Code/timedOut`` naming the holder when the timeout passes.
    @_disfavoredOverload
    @available(*, noasync, message: "blocks the thread while it waits; use the async acquire (try await lock.acquire())")
    public func acquire(
        timeout: Duration? = nil,
        onProgress: ((WaitProgress) -> Void)? = nil
    ) throws(LockError) -> LockHandle {
        let cancellation: WaitCancellation
        do throws(SystemCallError) { cancellation = try WaitCancellation() } catch {
            throw .system(error, lockFile: lockFile, doing: "waiting for")
        }
        return LockHandle(
            try acquireHeldLock(
                waiting: Waiting(timeout: timeout, cancellation: cancellation, onProgress: onProgress), owner: .current))
    }

    /// Takes the lock, waiting as long as `timeout` allows, and giving up when the task is cancelled.
    ///
    /// The wait runs on a thread of its own, so it holds no thread of the
    /// concurrency pool while it sleeps.
    ///
    /// - Throws: ``LockError/Code/timedOut`` or ``LockError/Code/cancelled``.
    public func acquire(
        timeout: Duration? = nil,
        onProgress: (@Sendable (WaitProgress) -> Void)? = nil
    ) async throws(LockError) -> LockHandle {
        LockHandle(
            try await inBackground { (cancellation, owner) throws(LockError) in
                try acquireHeldLock(waiting: Waiting(timeout: timeout, cancellation: cancellation, onProgress: onProgress), owner: owner)
            })
    }

    /// The state of the lock, read without taking it.
    public func status() throws(LockError) -> LockStatus {
        try examiner().currentStatus()
    }

    private func examiner() throws(LockError) -> LockFileExaminer {
        LockFileExaminer(
            location: try resolveLocation(),
            judge: StalenessJudge(identity: identity, options: options))
    }

    /// Waits until the lock is free or stale, without taking it.
    ///
    /// - Returns: the state that ended the wait (``LockStatus/free``, or a breakable state).
    /// - Throws: ``LockError/Code/timedOut`` when the timeout passes first.
    @_disfavoredOverload
    @available(
        *, noasync, message: "blocks the thread while it waits; use the async waitUntilAvailable (try await lock.waitUntilAvailable())"
    )
    public func waitUntilAvailable(
        timeout: Duration? = nil,
        onProgress: ((WaitProgress) -> Void)? = nil
    ) throws(LockError) -> LockStatus {
        let cancellation: WaitCancellation
        do throws(SystemCallError) { cancellation = try WaitCancellation() } catch {
            throw .system(error, lockFile: lockFile, doing: "waiting for")
        }
        return try waitForAvailability(
            waiting: Waiting(timeout: timeout, cancellation: cancellation, onProgress: onProgress), owner: .current)
    }

    /// Waits until the lock is free or stale, without taking it, and gives up when the task is cancelled.
    ///
    /// The wait runs on a thread of its own, so it holds no thread of the
    /// concurrency pool while it sleeps.
    ///
    /// - Returns: the state that ended the wait (``LockStatus/free``, or a breakable state).
    /// - Throws: ``LockError/Code/timedOut`` or ``LockError/Code/cancelled``.
    public func waitUntilAvailable(
        timeout: Duration? = nil,
        onProgress: (@Sendable (WaitProgress) -> Void)? = nil
    ) async throws(LockError) -> LockStatus {
        try await inBackground { (cancellation, owner) throws(LockError) in
            try waitForAvailability(waiting: Waiting(timeout: timeout, cancellation: cancellation, onProgress: onProgress), owner: owner)
        }
    }

    /// Removes the lock file if it is stale or an old invalid file; with `force`, even if held.
    ///
    /// Breaking follows the same race-safe rules as acquisition: of any number of
    /// processes breaking the same stale lock, one removes it, and none removes a newer one.
    ///
    /// - Returns: the state of the lock file that was removed, or nil if there was none.
    /// - Throws: ``LockError/Code/notStale`` with the holder's details when the
    ///   lock is held and `force` is false.
    @discardableResult
    public func breakLock(force: Bool = false) throws(LockError) -> LockStatus? {
        try breakHeldOrStaleLock(force: force)
    }
}
