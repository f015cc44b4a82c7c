import Dispatch
import Logging
import SystemPackage

extension WriterLock {
    enum AttemptResult {
        case acquired(HeldLock)
        case busy(LockStatus, FileIdentity?)
    }

    enum StepResult<Value> {
        case done(Value)
        case busy(LockStatus, FileIdentity?)
    }

    /// Builds this acquisition's complete lock file, not yet at the lock path.
    func prepare() throws(LockError) -> PreparedLockFile {
        guard !dataFile.isEmpty else {
            throw LockError(.invalidPath, lockFile: lockFile, message: "the data file path is empty; name the file to lock")
        }
        if let info = try? Syscalls.lstat(dataFile), FileIdentity.kind(of: info) == "directory" {
            throw LockError(.invalidPath, lockFile: lockFile,
                            message: "\(dataFile) is a directory; an RVF writer lock protects a data file, name the file")
        }
        let record = LockRecord(
            pid: UInt32(clamping: Syscalls.processID),
            hostname: identity.hostname,
            timestampNanoseconds: Syscalls.wallClockNanoseconds(),
            writerID: identity.makeWriterID())
        do throws(SystemCallError) {
            return try PreparedLockFile(lockFile: lockFile, record: record, useNamedTemporary: options.usesNamedTemporaryFiles)
        } catch {
            throw .system(error, lockFile: lockFile, doing: "creating")
        }
    }

    /// One try: link the prepared file to the lock path, removing a stale lock in the way.
    func attempt(_ prepared: PreparedLockFile) throws(LockError) -> AttemptResult {
        var lastStatus = LockStatus.free
        // Bounded: each turn either links, finds a holder, or saw the path change under it.
        for _ in 0..<32 {
            let linked: Bool
            do throws(SystemCallError) {
                linked = try prepared.link(to: lockFile)
            } catch {
                throw .system(error, lockFile: lockFile, doing: "creating")
            }
            if linked {
                return .acquired(HeldLock(
                    descriptor: prepared.takeDescriptor(), record: prepared.record, identity: prepared.identity,
                    lockFile: lockFile, dataFile: dataFile, examiner: examiner, options: options))
            }
            switch try examiner.examine(.breakIfStale) {
            case .absent, .changed:
                continue
            case .removed(let status):
                options.logger?.notice("removed stale lock \(lockFile): \(status)")
                lastStatus = status
            case .present(let status, let identity):
                return .busy(status, identity)
            }
        }
        return .busy(lastStatus, nil)
    }

    func blockingAcquire(
        timeout: Duration?,
        cancellation: CancellationSignal?,
        onProgress: ((WaitProgress) -> Void)?
    ) throws(LockError) -> HeldLock {
        let prepared = try prepare()
        var first = true
        return try waitLoop(timeout: timeout, cancellation: cancellation, onProgress: onProgress) { () throws(LockError) in
            if !first {
                // The record must say when the lock was taken, not when the wait began.
                do throws(SystemCallError) { try prepared.refreshTimestamp() } catch {
                    throw .system(error, lockFile: lockFile, doing: "creating")
                }
            }
            first = false
            switch try attempt(prepared) {
            case .acquired(let held): return .done(held)
            case .busy(let status, let identity): return .busy(status, identity)
            }
        }
    }

    /// Repeats `step` until it is done, sleeping between tries until the lock file
    /// changes, a poll interval passes, the timeout passes, or `cancellation` fires.
    func waitLoop<Value>(
        timeout: Duration?,
        cancellation: CancellationSignal?,
        onProgress: ((WaitProgress) -> Void)?,
        step: () throws(LockError) -> StepResult<Value>
    ) throws(LockError) -> Value {
        let clock = ContinuousClock()
        let start = clock.now
        // Created at the first busy look only: an uncontended acquisition needs no watch.
        var watcher: LockChangeWatcher?
        var poll = Duration.milliseconds(20)
        var attempts = 0
        var unarmedTurns = 0
        while true {
            // Watch first, then look: a change after the look cannot go unseen.
            let watched = watcher?.watchCurrentLockFile()
            let result = try step()
            attempts += 1
            guard case .busy(let status, let identity) = result else {
                if case .done(let value) = result { return value }
                preconditionFailure("unreachable")
            }
            let waited = clock.now - start
            if cancellation?.isFired == true { throw .cancelled(lockFile, status: status) }
            if let timeout, waited >= timeout {
                throw .busy(lockFile, dataFile: dataFile, status: status, waited: waited)
            }
            guard let watcher else {
                watcher = LockChangeWatcher(lockFile: lockFile)
                continue
            }
            // The file judged is not the one watched: it changed in between; look again at once, a few times.
            if watcher.deliversEvents && (identity == nil || watched != identity) && unarmedTurns < 3 {
                unarmedTurns += 1
                continue
            }
            unarmedTurns = 0
            onProgress?(WaitProgress(status: status, waited: waited, attempts: attempts))
            var sleep = min(poll, options.maximumPollInterval)
            if let timeout { sleep = min(sleep, timeout - waited) }
            do throws(SystemCallError) {
                _ = try watcher.wait(timeout: sleep, cancellation: cancellation?.readable)
            } catch {
                throw .system(error, lockFile: lockFile, doing: "waiting for")
            }
            poll = min(poll * 2, options.maximumPollInterval)
        }
    }

    /// Runs a blocking wait on a thread of its own, cancelled with the calling task.
    func inBackground<Value: Sendable>(
        _ work: @escaping @Sendable (CancellationSignal) throws(LockError) -> Value
    ) async throws(LockError) -> Value {
        let signal: CancellationSignal
        do throws(SystemCallError) { signal = try CancellationSignal() } catch {
            throw .system(error, lockFile: lockFile, doing: "waiting for")
        }
        if Task.isCancelled { throw .cancelled(lockFile, status: nil) }
        let result: Result<Value, LockError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // A queue of its own gets a thread of its own: the wait may block for long.
                DispatchQueue(label: "RVFLock.wait").async {
                    continuation.resume(returning: Result { () throws(LockError) in try work(signal) })
                }
            }
        } onCancel: {
            signal.fire()
        }
        return try result.get()
    }
}
