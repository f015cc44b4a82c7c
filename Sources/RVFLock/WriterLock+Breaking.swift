import Logging
import SystemPackage

extension WriterLock {
    /// Waits until no live writer holds the lock: in the kernel's queue (a shared
    /// `flock()`) while an RVFLock holder has it, otherwise for file events and a
    /// bounded poll.
    ///
    /// While another thread or task of this process holds the lock, it first waits
    /// for its turn in the process (see ``ProcessQueue``), and passes it on at once.
    func waitForAvailability(waiting: Waiting, owner: ProcessQueue.Owner) throws(LockError) -> LockStatus {
        let location = try resolveLocation()
        try enterProcessQueue(location, owner: owner, waiting: waiting)
        ProcessQueue.shared.leave(location.key)
        let judge = StalenessJudge(identity: identity, options: options)
        let examiner = LockFileExaminer(location: location, judge: judge)
        let start = ContinuousClock.now
        var lastStatus = LockStatus.free
        var attempts = 0
        var poll = Duration.milliseconds(20)
        var watcher: LockChangeWatcher?

        func waited() -> Duration { ContinuousClock.now - start }
        func stopIfDue() throws(LockError) {
            if waiting.cancellation.isCancelled { throw .cancelled(location.lockFile, status: lastStatus) }
            if let timeout = waiting.timeout, waited() >= timeout {
                throw .busy(location.lockFile, dataFile: dataFile, status: lastStatus, waited: waited())
            }
        }

        func judging<T>(_ body: () throws(SystemCallError) -> T) throws(LockError) -> T {
            try location.performing("waiting for", body)
        }

        while true {
            do throws(LockError) {
                guard let file = try OpenLockFile.open(location, forWriting: false) else { return .free }
                if try judging({ () throws(SystemCallError) in try file.isUnlinked() }) { continue }
                if try judging({ () throws(SystemCallError) in try file.tryShared() }) == false {
                    lastStatus = try judging { () throws(SystemCallError) in
                        try file.judge(with: judge, kernelLock: .heldExclusively, namingProgram: true).status
                    }
                    if let holder = lastStatus.holder, holder.pid == UInt32(clamping: Syscalls.processID),
                       HeldLockRegistry.shared.contains(holder.writerID)
                    {
                        throw .heldByThisProcess(location.lockFile, dataFile: dataFile, status: lastStatus)
                    }
                    attempts += 1
                    try stopIfDue()
                    waiting.onProgress?(WaitProgress(status: lastStatus, waited: waited(), attempts: attempts))
                    let outcome = try judging { () throws(SystemCallError) in
                        try file.waitForShared(timeout: waiting.timeout.map { $0 - waited() }, cancellation: waiting.cancellation)
                    }
                    switch outcome {
                    case .granted:
                        // The holder let go (or died): look again at what the path names now.
                        file.letGo()
                        continue
                    case .timedOut, .cancelled:
                        try stopIfDue()
                        continue
                    case .unavailable:
                        break
                    }
                } else {
                    file.letGo()
                    guard let status = try examiner.inspect() else { continue }
                    if status == .free || status.isBreakable { return status }
                    lastStatus = status
                    attempts += 1
                    try stopIfDue()
                    waiting.onProgress?(WaitProgress(status: lastStatus, waited: waited(), attempts: attempts))
                }
                let made = watcher ?? LockChangeWatcher(location: location)
                watcher = made
                var sleep = min(poll, options.maximumPollInterval)
                if let timeout = waiting.timeout { sleep = max(.zero, min(sleep, timeout - waited())) }
                _ = try judging { () throws(SystemCallError) in
                    try made.wait(timeout: sleep, cancellation: waiting.cancellation.wakeDescriptor())
                }
                poll = min(poll * 2, options.maximumPollInterval)
            } catch where error.errno == .staleNFSFileHandle {
                // NFS: the file opened was removed on the server meanwhile; look at the path again.
                continue
            }
        }
    }

    /// Removes a stale or invalid lock (`force`: any lock), exactly the file judged.
    func breakHeldOrStaleLock(force: Bool) throws(LockError) -> LockStatus? {
        let location = try resolveLocation()
        let judge = StalenessJudge(identity: identity, options: options)
        func judging<T>(_ body: () throws(SystemCallError) -> T) throws(LockError) -> T {
            try location.performing("breaking", body)
        }
        for _ in 0..<16 {
            do throws(LockError) {
                guard let file = try OpenLockFile.open(location, forWriting: true) else { return nil }
                if try judging({ () throws(SystemCallError) in try file.isUnlinked() }) { continue }
                var kernelLock = StalenessJudge.KernelLock.notHeld
                switch try judging({ () throws(SystemCallError) in try file.tryExclusive() }) {
                case .acquired:
                    break
                case .heldExclusively:
                    kernelLock = .heldExclusively
                case .sharedOnly:
                    // Observers hold shared locks for microseconds; one that holds on longer
                    // delays the break, but is never taken for the holder.
                    let cancellation = try judging { () throws(SystemCallError) in try WaitCancellation() }
                    let outcome = try judging { () throws(SystemCallError) in
                        try file.waitForExclusive(timeout: .seconds(2), cancellation: cancellation)
                    }
                    if outcome != .granted {
                        if force { break }
                        let status = try judging { () throws(SystemCallError) in
                            try file.judge(with: judge, kernelLock: .notHeld, namingProgram: true).status
                        }
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
                let (status, bytes) = try judging { () throws(SystemCallError) in
                    try file.judge(with: judge, kernelLock: kernelLock, namingProgram: true)
                }
                guard force || status.isBreakable else {
                    throw .notStale(location.lockFile, status: status)
                }
                switch try judging({ () throws(SystemCallError) in try file.remove(judged: bytes) }) {
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
            } catch where error.errno == .staleNFSFileHandle {
                // NFS: the file opened was removed on the server meanwhile; look at the path again.
                continue
            }
        }
        throw LockError(.busy, lockFile: location.lockFile,
                        message: "\(location.lockFile) kept changing while it was judged; try again")
    }
}
