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

    /// Describes the writer lock of `dataFile`; touches no file.
    public init(dataFile: FilePath, options: LockOptions = LockOptions()) {
        self.init(dataFile: dataFile, options: options, identity: .current)
    }

    /// Describes the writer lock of the data file at `path` (`"data.rvf"`); touches no file.
    public init(dataFile path: String, options: LockOptions = LockOptions()) {
        self.init(dataFile: FilePath(path), options: options, identity: .current)
    }

    init(dataFile: FilePath, options: LockOptions, identity: HostIdentity) {
        self.dataFile = dataFile
        self.lockFile = Self.lockFile(for: dataFile)
        self.options = options
        self.identity = identity
    }

    /// The lock file of a data file: `data.rvf` → `data.rvf.lock`.
    public static func lockFile(for dataFile: FilePath) -> FilePath {
        FilePath(dataFile.string + ".lock")
    }

    var examiner: LockFileExaminer {
        LockFileExaminer(lockFile: lockFile, judge: StalenessJudge(identity: identity, options: options))
    }

    /// Takes the lock if it is free or stale, without waiting.
    ///
    /// - Throws: ``LockError/Code/busy`` naming the holder when another writer has it.
    public func tryAcquire() throws(LockError) -> LockHandle {
        let prepared = try prepare()
        switch try attempt(prepared) {
        case .acquired(let held): return LockHandle(held)
        case .busy(let status, _): throw .busy(lockFile, dataFile: dataFile, status: status, waited: nil)
        }
    }

    /// Takes the lock, waiting for it as long as `timeout` allows (nil: forever).
    ///
    /// The waiting thread sleeps until the file system reports a change to the
    /// lock file, or until a bounded poll interval passes.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait at most; nil waits until the lock is had.
    ///   - onProgress: called each time the lock is found still taken.
    /// - Throws: ``LockError/Code/timedOut`` naming the holder when the timeout passes.
    @_disfavoredOverload
    @available(*, noasync, message: "blocks the thread while it waits; use the async acquire (try await lock.acquire())")
    public func acquire(
        timeout: Duration? = nil,
        onProgress: ((WaitProgress) -> Void)? = nil
    ) throws(LockError) -> LockHandle {
        LockHandle(try blockingAcquire(timeout: timeout, cancellation: nil, onProgress: onProgress))
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
        LockHandle(try await inBackground { (signal) throws(LockError) in
            try blockingAcquire(timeout: timeout, cancellation: signal, onProgress: onProgress)
        })
    }

    /// The state of the lock, read without taking it.
    public func status() throws(LockError) -> LockStatus {
        for _ in 0..<16 {
            do {
                switch try examiner.examine(.inspect) {
                case .absent: return .free
                case .present(let status, _), .removed(let status): return status
                case .changed: continue
                }
            } catch where error.code == .notARegularFile {
                if let status = error.status { return status }
                throw error
            }
        }
        throw LockError(.busy, lockFile: lockFile, message: "\(lockFile) kept changing while it was read; try again")
    }

    /// Waits until the lock is free or stale, without taking it.
    ///
    /// - Returns: the state that ended the wait (``LockStatus/free``, or a breakable state).
    /// - Throws: ``LockError/Code/timedOut`` when the timeout passes first.
    @_disfavoredOverload
    @available(*, noasync, message: "blocks the thread while it waits; use the async waitUntilAvailable (try await lock.waitUntilAvailable())")
    public func waitUntilAvailable(
        timeout: Duration? = nil,
        onProgress: ((WaitProgress) -> Void)? = nil
    ) throws(LockError) -> LockStatus {
        try waitUntilAvailable(timeout: timeout, cancellation: nil, onProgress: onProgress)
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
        try await inBackground { (signal) throws(LockError) in
            try waitUntilAvailable(timeout: timeout, cancellation: signal, onProgress: onProgress)
        }
    }

    /// The wait of both forms; `cancellation` ends it early, for the async one.
    func waitUntilAvailable(
        timeout: Duration?,
        cancellation: WakeSignal?,
        onProgress: ((WaitProgress) -> Void)?
    ) throws(LockError) -> LockStatus {
        try waitLoop(timeout: timeout, cancellation: cancellation, onProgress: onProgress) { () throws(LockError) in
            switch try examiner.examine(.inspect) {
            case .absent: return .done(.free)
            case .removed(let status): return .done(status)
            case .present(let status, let identity): return status.isBreakable ? .done(status) : .busy(status, identity)
            case .changed: return .busy(.free, nil)
            }
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
        for _ in 0..<16 {
            switch try examiner.examine(force ? .breakEvenIfHeld : .breakIfStale) {
            case .absent:
                return nil
            case .removed(let status):
                options.logger?.warning("removed lock \(lockFile) (\(force ? "forced" : "stale")): \(status)")
                return status
            case .present(let status, _):
                throw .notStale(lockFile, status: status)
            case .changed:
                continue
            }
        }
        throw LockError(.busy, lockFile: lockFile, message: "\(lockFile) kept changing while it was judged; try again")
    }
}
