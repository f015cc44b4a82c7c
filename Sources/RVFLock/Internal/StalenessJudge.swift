/// Decides whether the holder of a lock record is alive, and whether its lock is stale.
///
/// The rules are the reference's (same host: process gone and older than 30 s;
/// other host: older than 300 s) with these corrections:
/// - a holder that some process still holds `flock()` for is alive, whatever its PID
///   says: PIDs mean nothing across PID namespaces, the kernel lock does;
/// - a record written by RVFLock on this running kernel (its writer id carries this
///   boot's tag) whose `flock()` nobody holds has lost its holder: stale at once;
/// - a PID of 0 or at or above the kernel's limit is never probed with `kill`, where
///   it would address a process group or every process and always succeed.
struct StalenessJudge: Sendable {
    let identity: HostIdentity
    let options: LockOptions

    /// - Parameter unchangedFor: how long this process has seen this very record unchanged
    ///   (monotonic clock); the age used is the larger of that and the wall-clock age.
    func judge(
        _ record: LockRecord, kernelLockHeld: Bool, nowNanoseconds: UInt64, unchangedFor: Duration = .zero
    ) -> LockStatus {
        let wallClockAge = Duration.nanoseconds(
            Int64(clamping: nowNanoseconds &- min(nowNanoseconds, record.timestampNanoseconds)))
        let age = max(wallClockAge, unchangedFor)
        let isSameHost = identity.isSameHost(record.hostnameBytes)
        func holder(_ liveness: LockHolder.Liveness) -> LockHolder {
            LockHolder(record: record, age: age, isSameHost: isSameHost, liveness: liveness)
        }
        if kernelLockHeld {
            return .held(holder(.kernelLockHeld))
        }
        if record.checksum == .crc32c && identity.isWrittenOnThisBoot(record.writerID) {
            return .stale(holder(.kernelLockReleased), .holderGone)
        }
        guard isSameHost else {
            let holder = holder(.unknowable)
            return age > options.otherHostStaleAfter
                ? .stale(holder, .otherHostOlderThan(options.otherHostStaleAfter)) : .held(holder)
        }
        let liveness = probe(record.pid)
        let sameHostHolder = holder(liveness)
        if liveness.isAlive == false && age > options.sameHostStaleAfter {
            return .stale(sameHostHolder, .processGoneAndOlderThan(options.sameHostStaleAfter))
        }
        return .held(sameHostHolder)
    }

    func judgeInvalid(
        _ problem: InvalidLockFile.Problem, fileAge: Duration, unchangedFor: Duration = .zero, kernelLockHeld: Bool
    ) -> LockStatus {
        let fileAge = max(fileAge, unchangedFor)
        let breakable = !kernelLockHeld && fileAge > options.sameHostStaleAfter
        return .invalid(InvalidLockFile(problem: problem, fileAge: fileAge, isBreakable: breakable))
    }

    private func probe(_ pid: UInt32) -> LockHolder.Liveness {
        guard pid > 0, Int64(pid) < identity.pidLimit, pid <= UInt32(Int32.max) else { return .impossiblePID }
        switch try? Syscalls.probeProcess(Int32(pid)) {
        case .noSuchProcess: return .noSuchProcess
        // An unexpected errno proves nothing; keep the holder.
        case .exists, nil: return .processExists
        }
    }
}
