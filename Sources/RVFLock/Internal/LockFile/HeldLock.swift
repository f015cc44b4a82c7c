import Glibc
import CRVFLockShims
import Dispatch
import Logging
import Synchronization
import SystemPackage

/// The state behind a ``LockHandle``: the descriptor whose `flock()` proves this
/// process alive, the heartbeat that keeps the record's timestamp fresh, and
/// the watch that notices when the lock file is removed or replaced.
///
/// Nothing is done for a short hold that only a long hold needs: taking the
/// lock arms the timer of the lock's own thread (no thread is woken); if the
/// lock is released before it is due, nothing else happens. When it fires (after
/// ``watchDelay``), the watch is set up; from then on a removal or
/// replacement is noticed at once, and the heartbeat follows every interval.
///
/// File system work (the watch, the heartbeat's write and sync, checks) runs on
/// the lock's own thread (reserved when the lock was taken), never on the
/// monitor thread, and never under ``state``'s mutex: a slow or hung file system
/// stalls this lock's heartbeat and release, never `isHeld`, never another lock.
///
/// The lock belongs to the process that took it. A child forked without `exec`
/// has a copy of this object and shares its descriptor (and so its `flock()`),
/// but none of its threads: there it refuses to release or check the lock, and
/// dropping it only closes the child's copy of the descriptor.
final class HeldLock: HeartbeatThread.Work {
    let location: LockLocation
    let dataFile: FilePath
    let identity: FileIdentity
    let writerID: WriterID
    let syncs: Bool
    /// The process that took the lock.
    let owner: pid_t
    private let monitor: MonitorThread
    private let logger: Logger?
    private let describeStatus: @Sendable () -> LockStatus?
    private let lossHandlers = LossHandlers()
    private let released = Atomic<Bool>(false)
    private let state: Mutex<State>
    /// Given the thread reserved when the lock was taken, to start after ``watchDelay``.
    private let heartbeat: HeartbeatThread
    /// Serialises the descriptor's I/O with its closing: a heartbeat's write and
    /// sync against release. Held only by the lock's heartbeat thread and by release.
    /// Nil once released.
    private let io = Mutex<FileDescriptor?>(nil)
    /// The older lock file whose kernel lock this holder was granted in line, if it
    /// waited (see ``Acquisition``): held until the release, so that the waiters
    /// left on it keep their place; let go of after this holder's own file has left
    /// the lock path, and before its own kernel lock, or once the lock is lost.
    private let predecessor: Mutex<FileDescriptor?>

    /// How long a lock is held before its watch is set up.
    static let watchDelay = Duration.milliseconds(10)

    private struct State: ~Copyable {
        var record: LockRecord
        var watch: MonitorThread.Subscription?
    }

    init(
        descriptor: FileDescriptor, record: LockRecord, identity: FileIdentity, syncs: Bool,
        location: LockLocation, dataFile: FilePath, options: LockOptions,
        monitor: MonitorThread, worker: Worker, predecessor: FileDescriptor?,
        describeStatus: @escaping @Sendable () -> LockStatus?
    ) {
        self.predecessor = Mutex(predecessor)
        self.location = location
        self.dataFile = dataFile
        self.identity = identity
        self.writerID = record.writerID
        self.syncs = syncs
        self.owner = Syscalls.processID
        self.monitor = monitor
        self.logger = options.logger
        self.describeStatus = describeStatus
        self.state = Mutex(State(record: record))
        let interval = options.effectiveHeartbeatInterval
        heartbeat = HeartbeatThread(worker: worker, interval: interval)
        io.withLock { $0 = descriptor }
        HeldLockRegistry.shared.insert(record.writerID)
        heartbeat.start(after: min(Self.watchDelay, interval), work: self)
    }

    deinit {
        if isForkedCopy {
            // The parent's lock: only this process's copy of the descriptor is ours to close.
            if let descriptor = io.withLock({ $0 }) { Syscalls.close(descriptor) }
            if let descriptor = predecessor.withLock({ $0 }) { Syscalls.close(descriptor) }
        } else {
            releaseQuietly()
        }
    }

    /// True in a child forked (without `exec`) from the process that took the lock.
    var isForkedCopy: Bool { Syscalls.processID != owner }

    private func refuseInForkedCopy(_ action: String) throws(LockError) {
        guard isForkedCopy else { return }
        throw LockError(
            .heldByParentProcess, lockFile: lockFile,
            message: "the lock \(lockFile) belongs to process \(owner), which took it; this process (\(Syscalls.processID)) was forked "
                + "from it and does not hold the lock, so it cannot \(action) it; take the lock in this process "
                + "(after the parent releases it), or leave it to the parent")
    }

    var lockFile: FilePath { location.lockFile }

    var isHeld: Bool {
        !lossHandlers.hasFired && !released.load(ordering: .acquiring) && !isForkedCopy
    }

    var record: LockRecord { state.withLock { $0.record } }

    /// What the lock path holds now, looked at in this lock's own directory.
    func currentStatus() -> LockStatus? { describeStatus() }

    /// The descriptor whose `flock()` is this holder's kernel lock; nil after release.
    var descriptor: FileDescriptor? { released.load(ordering: .acquiring) ? nil : io.withLock { $0 } }

    // MARK: Monitoring

    func startWatching() {
        do throws(SystemCallError) {
            try monitor.startThread()
        } catch {
            logger?.warning(
                "cannot start the thread that watches \(lockFile) for its removal (\(error.name): \(error.errno)); a loss of the lock is noticed at its heartbeats instead; raise the thread limit (RLIMIT_NPROC, the cgroup's pids.max) to have it noticed at once"
            )
        }
        let subscription: MonitorThread.Subscription? = io.withLock { descriptor in
            guard let descriptor else { return nil }
            // Through /proc, the watch is on this very inode, whatever the lock path names by now.
            return ProcSelfFD.withPath(of: descriptor) { path in
                monitor.subscribe(path, events: MonitorThread.holderEvents) { [weak self] in
                    self?.heartbeat.requestVerify()
                }
            }
        }
        let keep = state.withLock { state -> Bool in
            guard !released.load(ordering: .acquiring) else { return false }
            state.watch = subscription
            return true
        }
        if !keep { monitor.unsubscribe(subscription) }
        // The path may have changed before the watch existed: look once now.
        verify()
        // Named files of waiters that were killed while they waited.
        PreparedLockFile.removeOrphansOnce(of: location)
    }

    /// What the lock path names now, compared with this holder's file.
    private enum PathCheck { case ours, notOurs, unknown(SystemCallError) }

    private func checkPath() -> PathCheck {
        do throws(SystemCallError) {
            guard let current = try location.lstat() else { return .notOurs }
            return FileIdentity(current) == identity ? .ours : .notOurs
        } catch {
            // EACCES, ESTALE, EIO, ENOMEM: nothing proves the lock gone; look again later.
            return .unknown(error)
        }
    }

    func verify() {
        guard isHeld else { return }
        switch checkPath() {
        case .ours: break
        case .notOurs: markLost()
        case .unknown(let error):
            logger?.warning("cannot check the lock \(lockFile): \(error.name): \(error.errno); checking again at the next heartbeat")
        }
    }

    func beat() {
        verify()
        guard isHeld else { return }
        let failure: SystemCallError? = io.withLock { descriptor in
            guard let descriptor, !released.load(ordering: .acquiring) else { return nil }
            // Read under the I/O mutex: a record rewritten meanwhile (rewriteRecord) is the one this beat refreshes.
            var record = state.withLock { $0.record }
            record.timestampNanoseconds = Syscalls.wallClockNanoseconds()
            do throws(SystemCallError) {
                try record.withEncodedBytes { (bytes) throws(SystemCallError) in try Syscalls.pwriteAll(descriptor, bytes, at: 0) }
                TestingHooks.duringHeartbeatWrite?()
                // Synced where other machines read the server's copy.
                if syncs { try Syscalls.fdatasync(descriptor) }
                state.withLock { $0.record = record }
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            logger?.error("heartbeat of \(lockFile) failed: \(failure.name): \(failure.errno); retrying")
        }
    }

    /// Writes the record at once naming `pid` as the holder's process, with a fresh
    /// timestamp; every heartbeat after writes that pid too.
    func rewriteRecord(naming pid: UInt32) throws(LockError) {
        try refuseInForkedCopy("rewrite the record of")
        // Released or lost: says which.
        if !isHeld { try checkHeld() }
        let failure: SystemCallError? = io.withLock { descriptor in
            guard let descriptor, !released.load(ordering: .acquiring) else { return nil }
            var record = state.withLock { $0.record }
            record.pid = pid
            record.timestampNanoseconds = Syscalls.wallClockNanoseconds()
            do throws(SystemCallError) {
                try record.withEncodedBytes { (bytes) throws(SystemCallError) in try Syscalls.pwriteAll(descriptor, bytes, at: 0) }
                if syncs { try Syscalls.fdatasync(descriptor) }
                state.withLock { $0.record = record }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw .system(failure, lockFile: lockFile, doing: "rewriting the record of") }
    }

    private func markLost() {
        // Its line waits for a lock this process no longer holds.
        letGoOfPredecessor()
        guard lossHandlers.fire() else { return }
        if let logger {
            let now = describeStatus().map { "\($0)" } ?? "unknown"
            logger.critical("lost the writer lock \(lockFile): the lock file is now \(now)")
        }
    }

    /// Lets go of the predecessor's kernel lock (for this open file description,
    /// whichever process still has a copy of the descriptor) and closes it.
    private func letGoOfPredecessor() {
        guard let descriptor = predecessor.withLock({ $0.take() }) else { return }
        Syscalls.unlock(descriptor)
        Syscalls.close(descriptor)
    }

    /// Runs `handler` once when the lock is found lost (at once if it already is).
    @discardableResult
    func onLoss(_ handler: @escaping @Sendable () -> Void) -> UInt64? {
        lossHandlers.add(handler)
    }

    /// Removes a handler; if it is running now, returns only once it has finished,
    /// so that the caller may end the life of whatever the handler uses.
    /// A handler must not call this.
    func removeLossHandler(_ id: UInt64?) {
        lossHandlers.remove(id)
    }

    /// Checks now, synchronously, that the lock is still this holder's.
    func checkHeld() throws(LockError) {
        try refuseInForkedCopy("check")
        if released.load(ordering: .acquiring) {
            throw LockError(.lockLost, lockFile: lockFile, message: "the lock \(lockFile) was already released by this process")
        }
        if !lossHandlers.hasFired {
            switch checkPath() {
            case .ours: return
            case .notOurs: markLost()
            case .unknown(let error):
                throw .system(error, lockFile: lockFile, doing: "checking")
            }
        }
        throw .lost(lockFile, status: describeStatus())
    }

    // MARK: Release

    /// Stops the heartbeat, then removes the lock file if it is still ours and lets
    /// go of its kernel lock (by closing it: the first waiter queued for it wakes).
    ///
    /// No check-then-act gap: this process holds `flock()` on its file until the
    /// end, and every RVFLock process must take that kernel lock before it may
    /// replace or remove the file, so between the identity check and the unlink (or
    /// the rewrite) nobody else can remove ours and put theirs in its place.
    func release() throws(LockError) {
        try refuseInForkedCopy("release")
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let watch = state.withLock { $0.watch }
        lossHandlers.removeAll()
        heartbeat.stop()
        // Before the unlink, so that releasing wakes no monitor for this holder's own change.
        monitor.unsubscribe(watch)
        // Waits for a heartbeat's write in progress; the descriptor closes last.
        let descriptor = io.withLock { descriptor in
            defer { descriptor = nil }
            return descriptor
        }
        // Before the handoff, not after: the kernel often wakes the next holder on
        // this CPU, where it runs only once this thread blocks or is preempted, so
        // anything this thread does after the close delays it.
        HeldLockRegistry.shared.remove(writerID)
        defer {
            // The older line first: its first waiter wakes to a lock path already free.
            letGoOfPredecessor()
            if let descriptor { Syscalls.close(descriptor) }
            // The next thread or task of this process in line may start its own acquisition.
            ProcessQueue.shared.leave(location.key)
        }
        var check = checkPath()
        for _ in 0..<3 {
            guard case .unknown = check else { break }
            sched_yield()
            check = checkPath()
        }
        switch check {
        case .ours:
            break
        case .notOurs:
            throw .takenOver(lockFile, status: describeStatus())
        case .unknown(let error):
            throw .system(error, lockFile: lockFile, doing: "checking, before removing,")
        }
        do throws(SystemCallError) {
            try location.withName { (name) throws(SystemCallError) in try Syscalls.unlinkAt(location.directory.descriptor, name) }
        } catch  where error.errno == .noSuchFileOrDirectory {
            throw .takenOver(lockFile, status: describeStatus())
        } catch {
            throw .system(error, lockFile: lockFile, doing: "removing the lock file")
        }
    }

    func releaseQuietly() {
        do throws(LockError) {
            try release()
        } catch {
            logger?.error("releasing \(lockFile) on drop: \(error)")
        }
    }
}

/// The writer ids of the locks this process holds, so that a second acquisition
/// of a lock the process already holds fails at once instead of waiting for itself.
final class HeldLockRegistry: Sendable {
    static let shared = HeldLockRegistry()
    /// An array: a process holds a few locks at most.
    private let writers = Mutex<[WriterID]>([])

    func insert(_ writer: WriterID) { writers.withLock { $0.append(writer) } }
    func remove(_ writer: WriterID) {
        writers.withLock { writers in
            if let index = writers.firstIndex(of: writer) { writers.swapAt(index, writers.count - 1); writers.removeLast() }
        }
    }
    func contains(_ writer: WriterID) -> Bool { writers.withLock { $0.contains(writer) } }
    var isEmpty: Bool { writers.withLock { $0.isEmpty } }
}
