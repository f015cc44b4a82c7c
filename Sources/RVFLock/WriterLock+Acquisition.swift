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
    ///
    /// - Parameters:
    ///   - judgeFirst: look at the lock file before linking; for a waiter woken while
    ///     most likely another waiter has won, that skips a doomed link.
    ///   - refresh: rewrite the prepared record's timestamp before linking it.
    func attempt(_ prepared: PreparedLockFile, judgeFirst: Bool = false, refresh: Bool = false) throws(LockError)
        -> AttemptResult
    {
        var lastStatus = LockStatus.free
        var judgeFirst = judgeFirst
        // Bounded: each turn either links, finds a holder, or saw the path change under it.
        for _ in 0..<32 {
            let linked: Bool
            do throws(SystemCallError) {
                if judgeFirst {
                    linked = false
                    judgeFirst = false
                } else {
                    // The record must say when the lock was taken, not when the wait began.
                    if refresh { try prepared.refreshTimestamp() }
                    linked = try prepared.link(to: lockFile)
                }
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
        cancellation: WakeSignal?,
        onProgress: ((WaitProgress) -> Void)?
    ) throws(LockError) -> HeldLock {
        let prepared = try prepare()
        var first = true
        return try waitLoop(timeout: timeout, cancellation: cancellation, onProgress: onProgress) { () throws(LockError) in
            let retry = !first
            first = false
            let taken = retry && (try? Syscalls.lstat(lockFile)) != nil
            switch try attempt(prepared, judgeFirst: taken, refresh: retry) {
            case .acquired(let held): return .done(held)
            case .busy(let status, let identity): return .busy(status, identity)
            }
        }
    }

    /// Repeats `step` until it is done, sleeping between tries until the lock file
    /// changes, a poll interval passes, the timeout passes, or `cancellation` fires.
    func waitLoop<Value>(
        timeout: Duration?,
        cancellation: WakeSignal?,
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
        var woken = false
        var lastStatus = LockStatus.free
        var lastJudged: FileIdentity?
        while true {
            // Watch first, then look: a change after the look cannot go unseen.
            let watched = watcher?.watchCurrentLockFile()
            let skipLook = woken && watched != nil && lastJudged != nil && watched != lastJudged
            if skipLook {
                // Woken, and the lock path names a file newer than the one judged: another
                // waiter won the race for the lock just released, a moment ago, and holds it.
                // Its release or death will wake this waiter again; judging it now would cost
                // every loser of every handoff a look for nothing. The poll interval still
                // bounds how long a file from another implementation goes unjudged.
                lastJudged = watched
            } else {
                let result = try step()
                attempts += 1
                switch result {
                case .done(let value):
                    return value
                case .busy(let status, let identity):
                    lastStatus = status
                    lastJudged = identity
                }
            }
            let waited = clock.now - start
            if cancellation?.isFired == true { throw .cancelled(lockFile, status: lastStatus) }
            if let timeout, waited >= timeout {
                throw .busy(lockFile, dataFile: dataFile, status: lastStatus, waited: waited)
            }
            guard let watcher else {
                watcher = LockChangeWatcher(lockFile: lockFile)
                continue
            }
            // The file judged is not the one watched: it changed in between; look again at once, a few times.
            if !skipLook && watcher.deliversEvents && (lastJudged == nil || watched != lastJudged) && unarmedTurns < 3 {
                unarmedTurns += 1
                woken = false
                continue
            }
            unarmedTurns = 0
            if !skipLook { onProgress?(WaitProgress(status: lastStatus, waited: waited, attempts: attempts)) }
            var sleep = min(poll, options.maximumPollInterval)
            if let timeout { sleep = min(sleep, timeout - waited) }
            do throws(SystemCallError) {
                woken = try watcher.wait(timeout: sleep, cancellation: cancellation?.readable)
            } catch {
                throw .system(error, lockFile: lockFile, doing: "waiting for")
            }
            poll = min(poll * 2, options.maximumPollInterval)
        }
    }

    /// Runs a blocking wait on a thread of its own, cancelled with the calling task.
    func inBackground<Value: Sendable>(
        _ work: @escaping @Sendable (WakeSignal) throws(LockError) -> Value
    ) async throws(LockError) -> Value {
        let signal: WakeSignal
        do throws(SystemCallError) { signal = try WakeSignal() } catch {
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
