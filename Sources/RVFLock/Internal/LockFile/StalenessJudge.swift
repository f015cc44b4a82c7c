/// Decides whether the holder of a lock record is alive, and whether its lock is stale.
///
/// The rules are the reference's (same host: process gone and older than 30 s;
/// other host: older than 300 s) with these corrections:
/// - a holder for which some process holds `flock()` exclusively is alive, whatever
///   its PID says: PIDs mean nothing across PID namespaces, the kernel lock does;
///   shared `flock()`s are observers (`status`, `wait`) and prove nothing;
/// - a record written by RVFLock on this running kernel and on this mount of the
///   file system (its writer id carries the boot tag, see ``HostIdentity``) whose
///   `flock()` nobody holds exclusively has lost its holder: stale at once;
/// - a PID of 0 or at or above the kernel's limit is never probed with `kill`, where
///   it would address a process group or every process and always succeed;
/// - a PID that names a process which started after the record was written names
///   another process than the writer (the PID was reused, or the machine rebooted):
///   the writer counts as gone, by the same threshold as a PID that names nothing.
///   One that started in the moments before can be told from the writer only by an
///   RVFLock record's writer tag; where it cannot, the record is judged as one from
///   another host (see ``PIDCheck``);
/// - a record naming this machine by an alias (see ``HostIdentity``) is probed like
///   one from this host, but stale only after the other-host threshold.
struct StalenessJudge: Sendable {
    let identity: HostIdentity
    let options: LockOptions

    /// What `flock()` says about the lock file.
    enum KernelLock {
        /// Another open file holds it exclusively: a live holder (or a judge at work).
        case heldExclusively
        /// Nobody holds it exclusively (the judge may hold it itself, observers may share it).
        case notHeld
        /// It cannot be asked here (a read-only descriptor on NFS): the record's rules alone decide.
        case unknown
    }

    /// - Parameters:
    ///   - fileSystem: the device of the lock's directory (``LockLocation/fileSystem``).
    ///   - unchangedFor: how long this process has seen this very record unchanged
    ///     (monotonic clock); the age used is the larger of that and the wall-clock age.
    ///   - birthNanoseconds: the lock file's birth time, where known.
    func judge(
        _ record: LockRecord, kernelLock: KernelLock, fileSystem: UInt64, nowNanoseconds: UInt64,
        unchangedFor: Duration = .zero, birthNanoseconds: UInt64? = nil
    ) -> LockStatus {
        let wallClockAge = Duration.nanoseconds(
            Int64(clamping: nowNanoseconds &- min(nowNanoseconds, record.timestampNanoseconds)))
        let age = max(wallClockAge, unchangedFor)
        let heldFor = birthNanoseconds.map { birth in
            Duration.nanoseconds(Int64(clamping: nowNanoseconds &- min(nowNanoseconds, birth)))
        }
        let match = identity.match(record.hostnameBytes)
        let hostMatch: LockHolder.HostMatch =
            switch match {
            case .thisHost: .thisHost
            case .alias: .alias
            case .otherHost: .otherHost
            }
        func holder(_ liveness: LockHolder.Liveness) -> LockHolder {
            LockHolder(record: record, age: age, heldFor: heldFor, hostMatch: hostMatch, liveness: liveness)
        }
        switch kernelLock {
        case .heldExclusively:
            return .held(holder(.kernelLockHeld))
        case .notHeld where record.checksum == .crc32c && identity.isWrittenOnThisBoot(record.writerID, fileSystem: fileSystem):
            return .stale(holder(.kernelLockReleased), .holderGone)
        case .notHeld, .unknown:
            break
        }
        let otherHostRule = { (liveness: LockHolder.Liveness) -> LockStatus in
            let holder = holder(liveness)
            return age > options.otherHostStaleAfter
                ? .stale(holder, .otherHostOlderThan(options.otherHostStaleAfter)) : .held(holder)
        }
        switch match {
        case .otherHost:
            return otherHostRule(.unknowable)
        case .alias:
            let liveness = probe(record)
            return liveness.isAlive == true ? .held(holder(liveness)) : otherHostRule(liveness)
        case .thisHost:
            let liveness = probe(record)
            switch liveness.isAlive {
            case false? where age > options.sameHostStaleAfter:
                let reason: StaleReason =
                    liveness == .processStartedLater
                    ? .processReplacedAndOlderThan(options.sameHostStaleAfter)
                    : .processGoneAndOlderThan(options.sameHostStaleAfter)
                return .stale(holder(liveness), reason)
            case nil:
                return otherHostRule(liveness)
            default:
                return .held(holder(liveness))
            }
        }
    }

    func judgeInvalid(
        _ problem: InvalidLockFile.Problem, fileAge: Duration, unchangedFor: Duration = .zero, kernelLock: KernelLock
    ) -> LockStatus {
        let fileAge = max(fileAge, unchangedFor)
        let breakable = kernelLock == .notHeld && fileAge > options.sameHostStaleAfter
        return .invalid(InvalidLockFile(problem: problem, fileAge: fileAge, isBreakable: breakable))
    }

    /// Whether the record's PID names its writer, on this machine.
    private func probe(_ record: LockRecord) -> LockHolder.Liveness {
        let pid = record.pid
        guard pid > 0, Int64(pid) < identity.pidLimit, pid <= UInt32(Int32.max) else { return .impossiblePID }
        switch try? Syscalls.probeProcess(Int32(pid)) {
        case .noSuchProcess: return .noSuchProcess
        // An unexpected errno proves nothing; keep the holder.
        case .exists, nil: break
        }
        return PIDCheck(record: record, identity: identity, clockStepAllowance: options.sameHostStaleAfter).liveness
    }
}

/// Whether the process that has a record's PID now is the one that wrote it.
///
/// By its writer tag, an RVFLock record names its writer's PID namespace, PID and
/// start time exactly. For other records (the reference's), the start time alone
/// decides, against the record's timestamp (which is no earlier than its writer's
/// start): a process that started after the record was written is another process.
/// The timestamp is wall-clock time as it was then; the start time is today's
/// wall-clock reading of the boot clock; a wall clock stepped forward in between
/// makes the writer look as if it started later than it did, so a start up to
/// `clockStepAllowance` after the timestamp is no proof either way.
struct PIDCheck {
    let record: LockRecord
    let identity: HostIdentity
    let clockStepAllowance: Duration

    var liveness: LockHolder.Liveness {
        guard let startTicks = ProcessIdentity.startTicks(of: Int32(record.pid)) else {
            // No /proc of this namespace: the process exists, nothing more is known.
            return .processExists
        }
        if record.checksum == .crc32c && identity.isWrittenBy(record.writerID, pid: record.pid, startTicks: startTicks) {
            return .writerProcessExists
        }
        let started = ProcessIdentity.wallClockNanoseconds(ofStartTicks: startTicks)
        if started <= record.timestampNanoseconds { return .processExists }
        if started - record.timestampNanoseconds > clockStepAllowance.nanoseconds { return .processStartedLater }
        return .processStartedAroundRecord
    }
}
