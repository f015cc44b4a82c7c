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
            (try? LockFileExaminer(location: location, judge: StalenessJudge(identity: identity, options: options)).currentStatus())
                ?? .free
        }
        do throws(ProcessQueue.Refusal) {
            try ProcessQueue.shared.enter(
                location.key, owner: owner, waits: waiting != nil, deadline: deadline,
                cancellation: waiting?.cancellation
            ) {
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

    /// Takes the lock: the steps of ``Acquisition``, after this caller's turn among
    /// the threads and tasks of this process (see ``ProcessQueue``); `owner` is the
    /// caller. `waiting` nil tries once.
    func acquireHeldLock(waiting: Waiting?, owner: ProcessQueue.Owner) throws(LockError) -> HeldLock {
        let location = try resolveLocation()
        let start = ContinuousClock.now
        try enterProcessQueue(location, owner: owner, waiting: waiting)
        // Until the lock is held, the turn is this function's to pass on.
        var holdsTurn = true
        defer { if holdsTurn { ProcessQueue.shared.leave(location.key) } }
        // The heartbeat's thread is reserved before the lock is taken: a process at
        // its thread limit is refused the lock, rather than holding it unrefreshed.
        // So is the monitor's, which a wait needs for its file events and its
        // watchdog; a holding needs it only after its watch delay.
        let monitor: MonitorThread
        var worker: Worker?
        do throws(SystemCallError) {
            monitor = try MonitorThread.current()
            if waiting != nil { try monitor.startThread() }
            worker = try WorkerThreads.shared.reserve()
        } catch {
            throw .noThread(error, lockFile: location.lockFile)
        }
        defer { worker?.giveBack() }
        let schedule = waiting.map {
            WaitSchedule(location: location, waiting: $0, start: start, maximumPoll: options.maximumPollInterval)
        }
        let acquisition = try Acquisition(lock: self, location: location, schedule: schedule, monitor: monitor)
        let prepared = try acquisition.run()
        let examiner = LockFileExaminer(location: location, judge: acquisition.judge)
        let held = HeldLock(
            descriptor: prepared.takeDescriptor(), record: prepared.record, identity: prepared.identity,
            syncs: prepared.syncs, location: location, dataFile: dataFile, options: options,
            monitor: monitor, worker: worker!, predecessor: acquisition.takePredecessor(),
            describeStatus: { try? examiner.currentStatus() })
        worker = nil
        holdsTurn = false
        return held
    }

    /// Starts now what an acquisition starts before it takes the lock (the monitor
    /// thread, a parked thread for the heartbeat), resolves the lock's location and
    /// reads what the record says of this process (its start, its PID namespace), for a caller that knows an acquisition is coming and has time to spare before
    /// it: `rvf-lock exec --etcd` while its helper takes the lease, so that the lock
    /// file is linked the moment the lease is had, not a thread start later. Failures
    /// are left for the acquisition to meet and report.
    package func prepareForAcquisition() {
        _ = try? resolveLocation()
        _ = ProcessIdentity.current
        _ = ProcessIdentity.procShowsThisNamespace
        try? MonitorThread.current().startThread()
        (try? WorkerThreads.shared.reserve())?.giveBack()
    }

    /// Fails at once when the lock is this very process's, through another handle.
    func refuseWaitingForItself(_ status: LockStatus, _ location: LockLocation) throws(LockError) {
        guard let holder = status.holder, holder.pid == UInt32(clamping: Syscalls.processID),
            HeldLockRegistry.shared.contains(holder.writerID)
        else { return }
        throw .heldByThisProcess(location.lockFile, dataFile: dataFile, status: named(status, location))
    }

    /// The status with the holder's program name, for what people read.
    func named(_ status: LockStatus, _ location: LockLocation) -> LockStatus {
        guard status.holder != nil, let file = try? OpenLockFile.open(location, forWriting: false, action: "reading the lock file") else {
            return status
        }
        return status.describingHolder { HolderProcesses.describe($0, lockFile: file.identity, identity: identity) }
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
