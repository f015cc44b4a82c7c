#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Synchronization
import SystemPackage

/// The state behind a ``LockHandle``: the descriptor whose `flock()` proves this
/// process alive, the heartbeat that keeps the record's timestamp fresh, and
/// the watch that notices at once when the lock file is removed or replaced.
final class HeldLock: Sendable {
    let lockFile: FilePath
    let dataFile: FilePath
    let identity: FileIdentity
    let writerID: WriterID
    private let examiner: LockFileExaminer
    private let logger: Logger?
    private let lost = Atomic<Bool>(false)
    private let state: Mutex<State>
    /// Held while loss handlers are taken out and run, so that removing a handler
    /// waits out a run of it already under way (see ``removeLossHandler(_:)``).
    private let handlerRun = Mutex<Void>(())

    private struct State: ~Copyable {
        var descriptor: CInt
        var record: LockRecord
        var released = false
        var lossHandlers: [UInt64: @Sendable () -> Void] = [:]
        var nextHandlerID: UInt64 = 0
        var heartbeat: MonitorThread.TimerID?
        var watch: MonitorThread.Subscription?
    }

    init(
        descriptor: CInt, record: LockRecord, identity: FileIdentity,
        lockFile: FilePath, dataFile: FilePath, examiner: LockFileExaminer, options: LockOptions
    ) {
        self.lockFile = lockFile
        self.dataFile = dataFile
        self.identity = identity
        self.writerID = record.writerID
        self.examiner = examiner
        self.logger = options.logger
        self.state = Mutex(State(descriptor: descriptor, record: record))
        startMonitoring(descriptor: descriptor, interval: options.effectiveHeartbeatInterval)
    }

    deinit { releaseQuietly() }

    var isHeld: Bool {
        !lost.load(ordering: .acquiring) && !state.withLock { $0.released }
    }

    var record: LockRecord { state.withLock { $0.record } }

    /// The descriptor whose `flock()` is this holder's kernel lock; -1 after release.
    var descriptor: CInt { state.withLock { $0.released ? -1 : $0.descriptor } }

    private func startMonitoring(descriptor: CInt, interval: Duration) {
        let monitor = MonitorThread.shared
        let heartbeat = monitor.repeating(every: max(interval, .milliseconds(1))) { [weak self] in self?.beat() }
        // Through /proc, the watch is on this very inode, whatever the lock path names by now.
        let watch = monitor.subscribe("/proc/self/fd/\(descriptor)", events: MonitorThread.fileEvents) {
            [weak self] in self?.verify()
        }
        state.withLock {
            $0.heartbeat = heartbeat
            $0.watch = watch
        }
        // The path may have changed between the link and the watch: look once now.
        verify()
    }

    /// Whether the lock path still names this holder's file.
    private func pathStillNamesOurFile() -> Bool {
        guard let current = try? Syscalls.lstat(lockFile) else { return false }
        return FileIdentity(current) == identity
    }

    private func verify() {
        guard !lost.load(ordering: .acquiring), !state.withLock({ $0.released }) else { return }
        if !pathStillNamesOurFile() { markLost() }
    }

    private func beat() {
        verify()
        let failure: SystemCallError? = state.withLock { state in
            guard !state.released, !lost.load(ordering: .acquiring) else { return nil }
            state.record.timestampNanoseconds = Syscalls.wallClockNanoseconds()
            do throws(SystemCallError) {
                try Syscalls.pwriteAll(state.descriptor, state.record.encoded(), at: 0)
                // Synced so that other hosts of a network file system see it.
                try Syscalls.fdatasync(state.descriptor)
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            logger?.error("heartbeat of \(lockFile) failed: \(failure.name): \(failure.errno); retrying")
        }
    }

    private func markLost() {
        guard !lost.exchange(true, ordering: .acquiringAndReleasing) else { return }
        handlerRun.withLock { _ in
            let handlers = state.withLock { state in
                defer { state.lossHandlers = [:] }
                return Array(state.lossHandlers.values)
            }
            for handler in handlers { handler() }
        }
        if let logger {
            let now = (try? examiner.examine(.inspect)).map(describe) ?? "unknown"
            logger.critical("lost the writer lock \(lockFile): the lock file is now \(now)")
        }
    }

    private func describe(_ outcome: LockFileExaminer.Outcome) -> String {
        switch outcome {
        case .absent: "gone"
        case .present(let status, _), .removed(let status): "\(status)"
        case .changed: "changing"
        }
    }

    /// Runs `handler` once when the lock is found lost (at once if it already is).
    @discardableResult
    func onLoss(_ handler: @escaping @Sendable () -> Void) -> UInt64? {
        let id: UInt64? = state.withLock { state in
            guard !lost.load(ordering: .acquiring) else { return nil }
            let id = state.nextHandlerID
            state.nextHandlerID += 1
            state.lossHandlers[id] = handler
            return id
        }
        if id == nil { handler() }
        return id
    }

    /// Removes a handler; if it is running now, returns only once it has finished,
    /// so that the caller may end the life of whatever the handler uses.
    /// A handler must not call this.
    func removeLossHandler(_ id: UInt64?) {
        guard let id else { return }
        handlerRun.withLock { _ in
            _ = state.withLock { $0.lossHandlers.removeValue(forKey: id) }
        }
    }

    /// Checks now, synchronously, that the lock is still this holder's.
    func checkHeld() throws(LockError) {
        let released = state.withLock { $0.released }
        if released {
            throw LockError(.lockLost, lockFile: lockFile, message: "the lock \(lockFile) was already released by this process")
        }
        if !lost.load(ordering: .acquiring) && pathStillNamesOurFile() { return }
        markLost()
        throw .lost(lockFile, status: currentStatus())
    }

    private func currentStatus() -> LockStatus? {
        switch try? examiner.examine(.inspect) {
        case .absent: .free
        case .present(let status, _), .removed(let status): status
        case .changed, nil: nil
        }
    }

    /// Stops the heartbeat, then removes the lock file if it is still ours.
    ///
    /// No check-then-act gap: this process holds `flock()` on its file until the
    /// end, and every RVFLock process must take that kernel lock before it may
    /// remove the file, so between the identity check and the unlink nobody else
    /// can remove ours and put theirs in its place.
    func release() throws(LockError) {
        guard let descriptor = stopMonitoring() else { return }
        defer { Syscalls.close(descriptor) }
        guard pathStillNamesOurFile() else {
            throw .takenOver(lockFile, status: currentStatus())
        }
        do throws(SystemCallError) {
            try Syscalls.unlink(lockFile)
        } catch where error.errno == .noSuchFileOrDirectory {
            throw .takenOver(lockFile, status: currentStatus())
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

    /// Marks the lock released and stops the heartbeat; returns the descriptor to
    /// close, or nil if already released.
    private func stopMonitoring() -> CInt? {
        state.withLock { state in
            guard !state.released else { return nil }
            state.released = true
            if let heartbeat = state.heartbeat { MonitorThread.shared.cancel(heartbeat) }
            // Before the unlink, so that releasing wakes no monitor for this holder's own change.
            MonitorThread.shared.unsubscribe(state.watch)
            state.lossHandlers = [:]
            return state.descriptor
        }
    }
}
