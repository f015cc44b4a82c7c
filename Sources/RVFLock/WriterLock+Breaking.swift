import Logging
import SystemPackage

extension WriterLock {
    /// Waits until no live writer holds the lock: in the kernel's queue (a shared
    /// `flock()`) while an RVFLock holder has it, otherwise for file events and a
    /// bounded poll (the same ``WaitSchedule`` as an acquisition's).
    ///
    /// While another thread or task of this process holds the lock, it first waits
    /// for its turn in the process (see ``ProcessQueue``), and passes it on at once.
    func waitForAvailability(waiting: Waiting, owner: ProcessQueue.Owner) throws(LockError) -> LockStatus {
        let location = try resolveLocation()
        let schedule = WaitSchedule(location: location, waiting: waiting, start: .now, maximumPoll: options.maximumPollInterval)
        try enterProcessQueue(location, owner: owner, waiting: waiting)
        ProcessQueue.shared.leave(location.key)
        let judge = StalenessJudge(identity: identity, options: options)
        let examiner = LockFileExaminer(location: location, judge: judge)
        var lastStatus = LockStatus.free

        while true {
            do throws(LockError) {
                guard let file = try OpenLockFile.open(location, forWriting: false, action: "waiting for") else { return .free }
                if try file.isUnlinked() { continue }
                if try file.tryShared() == false {
                    lastStatus = try file.judge(with: judge, kernelLock: .heldExclusively, namingProgram: true).status
                    try refuseWaitingForItself(lastStatus, location)
                    schedule.foundTaken { lastStatus }
                    try schedule.stopIfDue(dataFile: dataFile) { lastStatus }
                    switch try file.waitForShared(timeout: schedule.remaining, cancellation: waiting.cancellation) {
                    case .granted:
                        // The holder let go (or died): look again at what the path names now.
                        file.letGo()
                        continue
                    case .timedOut, .cancelled:
                        try schedule.stopIfDue(dataFile: dataFile) { lastStatus }
                        continue
                    case .unavailable:
                        break
                    }
                } else {
                    file.letGo()
                    guard let status = try examiner.inspect() else { continue }
                    if status == .free || status.isBreakable { return status }
                    lastStatus = status
                    schedule.foundTaken { lastStatus }
                    try schedule.stopIfDue(dataFile: dataFile) { lastStatus }
                }
                try schedule.sleepForFileEvents()
            } catch  where error.errno == .staleNFSFileHandle {
                // NFS: the file opened was removed on the server meanwhile; look at the path again.
                continue
            }
        }
    }

    /// Removes a stale or invalid lock (`force`: any lock), exactly the file judged.
    func breakHeldOrStaleLock(force: Bool) throws(LockError) -> LockStatus? {
        let location = try resolveLocation()
        let judge = StalenessJudge(identity: identity, options: options)
        for _ in 0..<16 {
            do throws(LockError) {
                guard let file = try OpenLockFile.open(location, forWriting: true, action: "breaking") else { return nil }
                if try file.isUnlinked() { continue }
                var kernelLock = StalenessJudge.KernelLock.notHeld
                switch try file.tryExclusive() {
                case .acquired:
                    break
                case .heldExclusively:
                    kernelLock = .heldExclusively
                case .sharedOnly:
                    // Observers hold shared locks for microseconds; one that holds on longer
                    // delays the break, but is never taken for the holder.
                    let cancellation: WaitCancellation
                    do throws(SystemCallError) { cancellation = try WaitCancellation() } catch {
                        throw .system(error, lockFile: location.lockFile, doing: "breaking")
                    }
                    if try file.waitForExclusive(timeout: .seconds(2), cancellation: cancellation) != .granted {
                        if force { break }
                        let status = try file.judge(with: judge, kernelLock: .notHeld, namingProgram: true).status
                        throw LockError(
                            .busy, lockFile: location.lockFile, status: status,
                            message: "\(location.lockFile) is \(status), but another process keeps a shared lock on the "
                                + "lock file (an observer, such as `flock -s`), so it cannot be removed safely; try again when it lets go")
                    }
                case .refused(let errno):
                    guard force else {
                        throw .unsupportedFileSystem(
                            location.lockFile, fileSystem: Syscalls.fileSystemType(file.descriptor).name,
                            missing: LockFileSystem.Requirement.fileLocks.description,
                            systemCall: "flock", errno: errno)
                    }
                    kernelLock = .unknown
                }
                let (status, bytes) = try file.judge(with: judge, kernelLock: kernelLock, namingProgram: true)
                guard force || status.isBreakable else {
                    throw .notStale(location.lockFile, status: status)
                }
                switch try file.remove(judged: bytes) {
                case .removed:
                    options.logger?.warning("removed lock \(location.lockFile) (\(force ? "forced" : "stale")): \(status)")
                    // A breaker that died between its rename and its unlink leaves a private file behind.
                    PreparedLockFile.removeOrphans(of: location)
                    return status
                case .changed, .replacedAndPutBack:
                    // Look again at what the path names now (a writer that replaced the judged file is judged anew).
                    continue
                case .replacedAndLeftAside(let name, let record):
                    let error = LockError.displaced(location.lockFile, privateName: name, record: record)
                    options.logger?.critical("\(error)")
                    throw error
                }
            } catch  where error.errno == .staleNFSFileHandle {
                // NFS: the file opened was removed on the server meanwhile; look at the path again.
                continue
            }
        }
        throw LockError(
            .busy, lockFile: location.lockFile,
            message: "\(location.lockFile) kept changing while it was judged; try again")
    }
}
