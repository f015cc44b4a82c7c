import Glibc
import FoundationEssentials
public import RVFLock

/// The RVF writer lock of one data file for writers on several machines: a
/// place in a line kept on an etcd cluster, then the lock file as `WriterLock`
/// takes it, released in the reverse order.
///
/// ```swift
/// let lock = EtcdWriterLock(dataFile: "/srv/shared/data.rvf",
///                           etcd: try EtcdOptions(endpointList: "http://etcd-1:2379,http://etcd-2:2379"))
/// try await lock.withLock(timeout: .seconds(30)) { scope in
///     try FencedDataFile("/srv/shared/data.rvf").write(token: scope.fencingToken) { file in
///         // ... append to data.rvf through `file` ...
///     }
/// }
/// ```
///
/// The line is etcd's own lock recipe (its `concurrency.Mutex`, and
/// `etcdctl lock`): each writer puts a key attached to a lease it keeps alive
/// under the data file's prefix, and the writer whose key the cluster created
/// first holds the lock; each other writer watches the key just ahead of its
/// own and is woken when that key is deleted, with no polling. The key's create
/// revision is the holder's *fencing token*, larger than every earlier holder's.
///
/// The lock file is taken after the line's first place, as `WriterLock` takes
/// it, so that writers that use only the lock file (the reference
/// implementation, `rvf-lock exec` without `--etcd`) on the same file system
/// are still excluded.
public struct EtcdWriterLock: Sendable {
    /// The lock of the file itself, taken once the line's first place is had.
    public let fileLock: WriterLock
    /// The cluster and the lease.
    public let etcd: EtcdOptions
    /// The name of the line on the cluster: every writer of the data file, on
    /// every machine, must use the same one. By default, the data file's
    /// absolute path (``defaultKeyName(for:)``).
    public let keyName: String

    /// Every key of this lock's line starts with this: `PREFIX/NAME/`.
    public var keyPrefix: String { "\(etcd.prefix)/\(keyName)/" }

    /// The data file the lock protects.
    public var dataFile: FilePath { fileLock.dataFile }

    /// Describes the lock of `dataFile` on the cluster `etcd`; touches neither.
    ///
    /// - Parameters:
    ///   - dataFile: the data file; its lock file is `dataFile.lock`.
    ///   - etcd: the cluster and the lease.
    ///   - keyName: the line's name; nil takes ``defaultKeyName(for:)``. Give one
    ///     where the machines mount the shared data at different paths.
    ///   - options: the lock file's options, as for `WriterLock`.
    public init(dataFile: FilePath, etcd: EtcdOptions, keyName: String? = nil, options: LockOptions = LockOptions()) {
        self.init(fileLock: WriterLock(dataFile: dataFile, options: options), etcd: etcd, keyName: keyName)
    }

    /// Describes the lock of the data file at `path`; touches neither the file nor the cluster.
    public init(dataFile path: String, etcd: EtcdOptions, keyName: String? = nil, options: LockOptions = LockOptions()) {
        self.init(fileLock: WriterLock(dataFile: path, options: options), etcd: etcd, keyName: keyName)
    }

    /// Combines a file lock already described with the cluster `etcd`.
    public init(fileLock: WriterLock, etcd: EtcdOptions, keyName: String? = nil) {
        self.fileLock = fileLock
        self.etcd = etcd
        self.keyName = keyName ?? Self.defaultKeyName(for: fileLock.dataFile)
    }

    /// The line's default name: the data file's absolute path, with `.` and `..`
    /// resolved by name (symbolic links are not followed, as machines may resolve
    /// them differently): `/srv/shared/data.rvf`. Machines that mount the shared
    /// data at the same path agree on it.
    public static func defaultKeyName(for dataFile: FilePath) -> String {
        var path = dataFile
        if !path.isAbsolute, let directory = currentDirectory() {
            path = FilePath(directory).pushing(path)
        }
        return path.lexicallyNormalized().string
    }

    private static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Taking and releasing

    /// Takes the lock, waiting as long as `timeout` allows (nil: forever), and
    /// giving up when the task is cancelled: first the line's first place on the
    /// cluster, then the lock file in what is left of `timeout`.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait at most, for both; nil waits as long as it takes.
    ///   - onWaiting: called each time the wait finds another writer ahead.
    /// - Throws: `LockError.timedOut`, `LockError.cancelled`, or any other
    ///   `LockError` of the lock file; an ``EtcdLockError`` when the cluster
    ///   cannot be used. Nothing is held when it throws.
    public func acquire(
        timeout: Duration? = nil, onWaiting: (@Sendable (EtcdLockHolder) -> Void)? = nil
    ) async throws -> EtcdLockHandle {
        try await acquire(deadline: timeout.map { .now + $0 }, waiting: true, onWaiting: onWaiting)
    }

    /// Takes the lock if no other writer holds it or waits for it, without waiting.
    ///
    /// - Throws: `LockError.busy` naming the holder; as ``acquire(timeout:onWaiting:)`` otherwise.
    public func tryAcquire() async throws -> EtcdLockHandle {
        try await acquire(deadline: .now + etcd.requestTimeout * 2, waiting: false, onWaiting: nil)
    }

    private func acquire(
        deadline: ContinuousClock.Instant?, waiting: Bool, onWaiting: (@Sendable (EtcdLockHolder) -> Void)?
    ) async throws -> EtcdLockHandle {
        let lease = try await acquireLease(deadline: deadline, waiting: waiting, onWaiting: onWaiting)
        do {
            let file: LockHandle
            if waiting {
                let remaining = deadline.map { max($0 - .now, .zero) }
                file = try await fileLock.acquire(timeout: remaining)
            } else {
                file = try fileLock.tryAcquire()
            }
            return EtcdLockHandle(file: file, lease: lease)
        } catch {
            await lease.release()
            throw error
        }
    }

    /// Takes only the line's first place on the cluster, not the lock file: for a
    /// program that takes the lock file in another process (`rvf-lock exec --etcd`).
    ///
    /// - Parameters:
    ///   - timeout: how long to wait at most; nil waits as long as it takes.
    ///   - waiting: false fails at once with `LockError.busy` when another writer is ahead.
    ///   - onWaiting: called each time the wait finds another writer ahead.
    public func acquireLease(
        timeout: Duration?, waiting: Bool = true, onWaiting: (@Sendable (EtcdLockHolder) -> Void)? = nil
    ) async throws -> EtcdLease {
        try await acquireLease(deadline: timeout.map { .now + $0 }, waiting: waiting, onWaiting: onWaiting)
    }

    /// Who holds the lock on the cluster, and who waits, read without taking it.
    ///
    /// - Throws: an ``EtcdLockError`` when the cluster cannot be used.
    public func line() async throws(EtcdLockError) -> EtcdLockLine {
        let gateway = try EtcdGateway(options: etcd)
        let prefix = keyPrefix
        let response: RangeResponse
        do throws(EtcdLockError) {
            response = try await gateway.call(
                "/v3/kv/range",
                RangeRequest(
                    key: Data(utf8Of: prefix), range_end: KeyRange.end(ofPrefix: prefix),
                    sort_order: "ASCEND", sort_target: "CREATE"),
                deadline: .now + etcd.requestTimeout * 2)
        } catch {
            await gateway.shutdown()
            throw error
        }
        await gateway.shutdown()
        let holders = (response.kvs ?? []).map(EtcdLockHolder.init)
        return EtcdLockLine(keyPrefix: prefix, holder: holders.first, waiting: Array(holders.dropFirst()))
    }
}
