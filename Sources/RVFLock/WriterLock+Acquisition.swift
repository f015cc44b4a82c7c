import Logging
import SystemPackage

extension WriterLock {
    /// How an acquisition waits, when it waits.
    struct Waiting {
        let timeout: Duration?
        let cancellation: WaitCancellation
        let onProgress: ((WaitProgress) -> Void)?
    }

    /// Takes this lock's turn among the threads and tasks of this process (see
    /// ``ProcessQueue``), waiting in line when `waiting` says so; the turn is the
    /// caller's to leave.
    func enterProcessQueue(_ location: LockLocation, owner: ProcessQueue.Owner, waiting: Waiting?) throws(LockError) {
        let start = ContinuousClock.now
        let deadline = waiting?.timeout.map { start + $0 }
        let status = { () -> LockStatus in
            (try? LockFileExaminer(location: location, judge: StalenessJudge(identity: identity, options: options)).currentStatus()) ?? .free
        }
        do throws(ProcessQueue.Refusal) {
            try ProcessQueue.shared.enter(location.key, owner: owner, waits: waiting != nil, deadline: deadline,
                                          cancellation: waiting?.cancellation) {
                // One look at the lock, for the caller's report; none while waiting.
                guard let onProgress = waiting?.onProgress else { return }
                onProgress(WaitProgress(status: status(), waited: ContinuousClock.now - start, attempts: 1))
            }
        } catch {
            switch error {
            case .reentered(let how):
                throw .heldByThisProcess(location.lockFile, dataFile: dataFile, status: status(), how: how)
            case .busy:
                throw .busy(location.lockFile, dataFile: dataFile, status: status(), waited: nil, byThisProcess: true)
            case .timedOut:
                throw .busy(location.lockFile, dataFile: dataFile, status: status(), waited: waiting?.timeout, byThisProcess: true)
            case .cancelled:
                throw .cancelled(location.lockFile, status: status())
            }
        }
    }

    /// Takes the lock: links a complete lock file at the lock path, breaking a
    /// stale lock in the way; when a live holder has it, fails (`waiting` nil) or
    /// waits: in the kernel's queue for the holder's `flock()` (RVFLock holders),
    /// or for file events and a bounded poll (holders without a kernel lock).
    ///
    /// Waiting in the kernel's queue hands the lock over in arrival order. Waiters
    /// queue for the holder's file's `flock()`; the kernel grants it to the first
    /// when the holder releases (unlink, then close) or dies. That waiter keeps
    /// the old file's kernel lock (its *predecessor*) until its own file is linked,
    /// so the next in line wakes only then, finds the new lock, lets go of the old
    /// file in turn and queues on the new one: the line moves over in order. A
    /// releaser that had waiters queues behind them on its own old file (see
    /// ``RecentReleases``).
    ///
    /// Other threads and tasks of this process wait for their turn first, in
    /// memory (see ``ProcessQueue``); `owner` is the caller.
    func acquireHeldLock(waiting: Waiting?, owner: ProcessQueue.Owner) throws(LockError) -> HeldLock {
        let location = try resolveLocation()
        let start = ContinuousClock.now
        try enterProcessQueue(location, owner: owner, waiting: waiting)
        // Until the lock is held, the turn is this function's to pass on.
        var holdsTurn = true
        defer { if holdsTurn { ProcessQueue.shared.leave(location.key) } }
        // The heartbeat's thread is reserved before the lock is taken: a process at
        // its thread limit is refused the lock, rather than holding it unrefreshed.
        let monitor: MonitorThread
        var worker: Worker?
        do throws(SystemCallError) {
            monitor = try MonitorThread.current()
            worker = try WorkerThreads.shared.reserve()
        } catch {
            throw .noThread(error, lockFile: location.lockFile)
        }
        defer { worker?.giveBack() }
        let judge = StalenessJudge(identity: identity, options: options)
        var prepared = try prepare(location, judge: judge, monitor: monitor)
        // The holder last seen; nil while only known to be alive (not read, to spare
        // a waiter's every turn in the queue the reads of a record nobody will see).
        var lastStatus: LockStatus? = .free
        func seen() -> LockStatus {
            lastStatus ?? (try? LockFileExaminer(location: location, judge: judge).currentStatus()) ?? .free
        }
        var attempts = 0
        var poll = Duration.milliseconds(20)
        var watcher: LockChangeWatcher?
        // The file just released or broken, whose kernel lock this waiter keeps until
        // its own file is linked: the line behind it waits there until then.
        var predecessor: OpenLockFile?
        var turns = 0

        func waited() -> Duration { ContinuousClock.now - start }
        func stopIfDue() throws(LockError) {
            guard let waiting else { return }
            if waiting.cancellation.isCancelled { throw .cancelled(location.lockFile, status: seen()) }
            if let timeout = waiting.timeout, waited() >= timeout {
                throw .busy(location.lockFile, dataFile: dataFile, status: named(seen(), location), waited: waited())
            }
        }
        func giveUp() -> LockError {
            .busy(location.lockFile, dataFile: dataFile, status: named(seen(), location), waited: nil)
        }
        func report() {
            guard let onProgress = waiting?.onProgress else { return }
            onProgress(WaitProgress(status: named(seen(), location), waited: waited(), attempts: attempts))
        }

        // Released by this process a moment ago while others were queued for it:
        // queue behind them first (see RecentReleases).
        if !RecentReleases.shared.isEmpty, let kept = RecentReleases.shared.take(location.key) {
            if let waiting, let released = OpenLockFile.adopting(kept, location: location) {
                let outcome = try location.performing("judging") { () throws(SystemCallError) in
                    try released.waitForExclusive(timeout: waiting.timeout, cancellation: waiting.cancellation)
                }
                switch outcome {
                case .granted: predecessor = released
                case .timedOut, .cancelled: try stopIfDue()
                case .unavailable: break
                }
            } else if waiting == nil {
                Syscalls.close(kept)
            }
        }

        while true {
            turns += 1
            // The record must say when the lock was taken, and the file's birth time
            // too (what `status` reports as "held for"): a file prepared more than a
            // second ago is made anew. Within the second, the timestamp is left as it
            // is: nothing judges a record by less.
            if turns > 1 && Syscalls.monotonicNanoseconds() &- prepared.createdAt > 1_000_000_000 {
                prepared.discard()
                prepared = try prepare(location, judge: judge, monitor: monitor)
            }
            let linked: Bool
            do throws(SystemCallError) { linked = try prepared.link(to: location) } catch {
                throw linkFailure(error, location: location)
            }
            if linked {
                // Only now may the next waiter in the kernel's queue wake.
                predecessor?.letGo()
                defer {
                    worker = nil
                    holdsTurn = false
                }
                return makeHeldLock(prepared, location: location, judge: judge, monitor: monitor, worker: worker!)
            }
            if waiting == nil && turns > 32 { throw giveUp() }

            do throws(LockError) {
                // The file at the lock path: the one whose kernel lock this process holds
                // (its holder died without unlinking it), or a newer one to open.
                let file: OpenLockFile
                if let held = predecessor, try !location.performing("judging", { () throws(SystemCallError) in try held.isUnlinked() }) {
                    file = held
                } else {
                    // Someone else linked first: the next in line behind this process on the
                    // old file may move up now, and queues behind it on the new one.
                    predecessor?.letGo()
                    predecessor = nil
                    guard let opened = try OpenLockFile.open(location, forWriting: true) else { continue }
                    if try location.performing("judging", { () throws(SystemCallError) in try opened.isUnlinked() }) { continue }
                    let probe = try location.performing("judging") { () throws(SystemCallError) in try opened.tryExclusive() }
                    switch probe {
                    case .acquired:
                        break
                    case .refused(let errno):
                        throw .unsupportedFileSystem(
                            location.lockFile, fileSystem: Syscalls.fileSystemType(opened.descriptor).name,
                            missing: opened.isWritable
                                ? LockFileSystem.Requirement.fileLocks.description
                                : "its file locks (flock) need the lock file open for writing (NFS), and this user may not write it; "
                                    + "make lock files writable for every user that locks (a shared group and umask 002)",
                            systemCall: "flock", errno: errno)
                    case .heldExclusively, .sharedOnly:
                        let holderAlive: Bool = if case .heldExclusively = probe { true } else { false }
                        // Read the record only where something needs it: a try's "busy", a
                        // progress report, a judgement of observers only, or this process
                        // holding locks (it may be waiting for itself).
                        if waiting == nil || waiting?.onProgress != nil || !holderAlive || !HeldLockRegistry.shared.isEmpty {
                            let status = try location.performing("judging") { () throws(SystemCallError) in
                                try opened.judge(with: judge, kernelLock: holderAlive ? .heldExclusively : .notHeld).status
                            }
                            lastStatus = status
                            try refuseWaitingForItself(status, location)
                        } else {
                            lastStatus = nil
                        }
                        attempts += 1
                        guard let waiting else {
                            // Observers let go within microseconds: worth a short wait, not a "busy".
                            guard !holderAlive, try location.performing("judging", { () throws(SystemCallError) in try waitBriefly(for: opened) }) else {
                                throw giveUp()
                            }
                            break
                        }
                        try stopIfDue()
                        report()
                        let outcome = try location.performing("judging") { () throws(SystemCallError) in
                            try opened.waitForExclusive(timeout: waiting.timeout.map { $0 - waited() }, cancellation: waiting.cancellation)
                        }
                        switch outcome {
                        case .granted:
                            break
                        case .timedOut, .cancelled:
                            try stopIfDue()
                            continue
                        case .unavailable:
                            // No signal to interrupt the kernel's queue with: poll it instead.
                            predecessor?.letGo()
                            predecessor = nil
                            try location.performing("judging") { () throws(SystemCallError) in
                                try sleep(&poll, watcher: &watcher, location: location, waiting: waiting, waited: waited())
                            }
                            continue
                        }
                    }
                    // This process holds the file's exclusive kernel lock now: it heads the
                    // line. Most often its holder has just released it (unlinked it): link at
                    // once, and judge it only if that fails.
                    predecessor = opened
                    continue
                }

                // The file at the lock path, under this process's exclusive kernel lock:
                // its holder is gone, or it never held the kernel lock (the reference,
                // another machine, an invalid file).
                let (status, bytes) = try location.performing("judging") { () throws(SystemCallError) in
                    try file.judge(with: judge, kernelLock: .notHeld)
                }
                lastStatus = status
                if status.isBreakable {
                    let removal = try location.performing("judging") { () throws(SystemCallError) in try file.remove(judged: bytes) }
                    if removal == .removed {
                        options.logger?.notice("removed stale lock \(location.lockFile): \(status)")
                    } else {
                        if case .replacedAndLeftAside(let name, let record) = removal {
                            options.logger?.critical("\(LockError.displaced(location.lockFile, privateName: name, record: record))")
                        }
                        predecessor?.letGo()
                        predecessor = nil
                    }
                    continue
                }
                // A holder without a kernel lock, or an invalid file too young to judge:
                // wait for it to go, or to age.
                predecessor?.letGo()
                predecessor = nil
                try refuseWaitingForItself(status, location)
                attempts += 1
                guard let waiting else { throw giveUp() }
                try stopIfDue()
                report()
                try location.performing("judging") { () throws(SystemCallError) in
                    try sleep(&poll, watcher: &watcher, location: location, waiting: waiting, waited: waited())
                }
            } catch where error.errno == .staleNFSFileHandle {
                // NFS: the file this process had open was removed on the server (by its
                // holder's release, or a breaker): it was replaced; look at the path again.
                predecessor?.letGo()
                predecessor = nil
            }
        }
    }

    /// Builds this acquisition's complete lock file, not yet at the lock path.
    ///
    /// Where the directory does not let this user create the file, the lock is
    /// looked at first: a user who cannot take a held lock learns who holds it.
    private func prepare(_ location: LockLocation, judge: StalenessJudge, monitor: MonitorThread) throws(LockError) -> PreparedLockFile {
        let record = LockRecord(
            pid: UInt32(clamping: Syscalls.processID),
            hostname: identity.hostname,
            timestampNanoseconds: Syscalls.wallClockNanoseconds(),
            writerID: identity.makeWriterID(fileSystem: location.fileSystem))
        do {
            return try PreparedLockFile(location: location, record: record, options: options,
                                        descriptorFloor: monitor.lockDescriptorFloor)
        } catch where [.permissionDenied, .notPermitted, .readOnlyFileSystem].contains(error.errno) {
            let examiner = LockFileExaminer(location: location, judge: judge)
            if let status = try? examiner.currentStatus(), status != .free {
                try refuseWaitingForItself(status, location)
                throw .busy(location.lockFile, dataFile: dataFile, status: status, waited: nil, cannotCreate: error)
            }
            throw error
        }
    }

    private func makeHeldLock(
        _ prepared: PreparedLockFile, location: LockLocation, judge: StalenessJudge, monitor: MonitorThread, worker: Worker
    ) -> HeldLock {
        let examiner = LockFileExaminer(location: location, judge: judge)
        return HeldLock(
            descriptor: prepared.takeDescriptor(), record: prepared.record, identity: prepared.identity,
            syncs: prepared.syncs, location: location, dataFile: dataFile, options: options,
            monitor: monitor, worker: worker,
            describeStatus: { try? examiner.currentStatus() })
    }

    private func linkFailure(_ error: SystemCallError, location: LockLocation) -> LockError {
        if error.errno == .notPermitted {
            // linkat's EPERM: the file system has no hard links, which the protocol needs.
            return .unsupportedFileSystem(
                location.lockFile, fileSystem: Syscalls.fileSystemType(location.directory.descriptor).name,
                missing: LockFileSystem.Requirement.hardLinks.description,
                systemCall: error.name, errno: error.errno)
        }
        return .system(error, lockFile: location.lockFile, doing: "creating")
    }

    /// Fails at once when the lock is this very process's, through another handle.
    private func refuseWaitingForItself(_ status: LockStatus, _ location: LockLocation) throws(LockError) {
        guard let holder = status.holder, holder.pid == UInt32(clamping: Syscalls.processID),
              HeldLockRegistry.shared.contains(holder.writerID)
        else { return }
        throw .heldByThisProcess(location.lockFile, dataFile: dataFile, status: named(status, location))
    }

    /// The status with the holder's program name, for what people read.
    private func named(_ status: LockStatus, _ location: LockLocation) -> LockStatus {
        guard status.holder != nil, let file = try? OpenLockFile.open(location, forWriting: false) else { return status }
        return status.describingHolder { HolderProcesses.describe($0, lockFile: file.identity, identity: identity) }
    }

    /// Waits up to 100 ms for observers (shared kernel locks) to let go.
    private func waitBriefly(for file: OpenLockFile) throws(SystemCallError) -> Bool {
        let cancellation = try WaitCancellation()
        return try file.waitForExclusive(timeout: .milliseconds(100), cancellation: cancellation) == .granted
    }

    /// Sleeps until the lock's name changes, a poll interval passes, the timeout, or cancellation.
    private func sleep(
        _ poll: inout Duration, watcher: inout LockChangeWatcher?, location: LockLocation, waiting: Waiting, waited: Duration
    ) throws(SystemCallError) {
        let watcher = watcher ?? {
            let made = LockChangeWatcher(location: location)
            watcher = made
            return made
        }()
        var sleep = min(poll, options.maximumPollInterval)
        if let timeout = waiting.timeout { sleep = max(.zero, min(sleep, timeout - waited)) }
        _ = try watcher.wait(timeout: sleep, cancellation: waiting.cancellation.wakeDescriptor())
        poll = min(poll * 2, options.maximumPollInterval)
    }

    /// Runs a blocking wait on a thread of its own, cancelled with the calling task.
    ///
    /// The thread comes from ``WorkerThreads``, not Dispatch, whose capped pool a
    /// few hundred waits would exhaust (see there).
    func inBackground<Value: Sendable>(
        _ work: @escaping @Sendable (WaitCancellation, ProcessQueue.Owner) throws(LockError) -> Value
    ) async throws(LockError) -> Value {
        // The calling task, before the wait moves to another thread.
        let owner = ProcessQueue.Owner.currentTask
        let cancellation: WaitCancellation
        let worker: Worker
        do throws(SystemCallError) {
            cancellation = try WaitCancellation()
            worker = try WorkerThreads.shared.reserve()
        } catch {
            throw .noThread(error, lockFile: lockFile)
        }
        if Task.isCancelled {
            worker.giveBack()
            throw .cancelled(lockFile, status: nil)
        }
        let result: Result<Value, LockError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                worker.run {
                    continuation.resume(returning: Result { () throws(LockError) in try work(cancellation, owner) })
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
        return try result.get()
    }
}
