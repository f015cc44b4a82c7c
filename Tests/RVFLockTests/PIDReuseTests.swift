#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

/// Records whose PID names another process now: reused PIDs and reboots (issue 14, item 2).
///
/// A process that started after a record was written cannot have written it:
/// the writer is gone, by the same threshold as a PID that names nothing. A
/// process that started only moments after it might be the writer under a wall
/// clock stepped since: such a record is judged as one from another host.
@Suite struct PIDReuseTests {
    let sandbox = LockSandbox()

    func record(pid: UInt32, timestamp: UInt64, checksum: LockRecord.Checksum) -> LockRecord {
        LockRecord(
            pid: pid, hostname: Host.name, timestampNanoseconds: timestamp,
            writerID: LockFiles.randomWriterID(), checksum: checksum)
    }

    /// A process started now, to hold a PID that a record names.
    func startedNow() throws -> ChildProcess {
        try ChildProcess("/bin/sleep", ["30"], outputIn: sandbox.directory.path, name: "sleep")
    }

    @Test(arguments: [LockRecord.Checksum.crc32, .crc32c])
    func aRecordOlderThanTheProcessWithItsPIDIsStaleAndTaken(_ checksum: LockRecord.Checksum) throws {
        let written = LockFiles.nanoseconds(secondsAgo: 120)
        let newcomer = try startedNow()
        sandbox.plant(record(pid: UInt32(newcomer.pid), timestamp: written, checksum: checksum))
        let lock = sandbox.lock()
        guard case .stale(let holder, let reason) = try lock.status() else {
            Issue.record("expected stale, got \(try lock.status())")
            return
        }
        #expect(holder.liveness == .processStartedLater)
        #expect(reason == .processReplacedAndOlderThan(.seconds(30)))
        // Named only when verifiably the writer: `sleep` is not.
        #expect(holder.program == nil)
        #expect(!"\(try lock.status())".contains("(sleep)"))
        let handle = try lock.tryAcquire()
        try handle.release()
        #expect(newcomer.exitStatusIfExited() == nil)
    }

    /// After a reboot, a record from the previous boot names a PID that a process of
    /// this boot may have (PID 1 always does).
    @Test func aRecordFromBeforeThisBootNamingPID1IsStale() throws {
        var uptime = timespec()
        clock_gettime(CLOCK_BOOTTIME, &uptime)
        let bootedAgo = UInt64(uptime.tv_sec) + 3600
        sandbox.plant(record(pid: 1, timestamp: LockFiles.nanoseconds(secondsAgo: bootedAgo), checksum: .crc32))
        let lock = sandbox.lock()
        guard case .stale(let holder, _) = try lock.status() else {
            Issue.record("expected stale, got \(try lock.status())")
            return
        }
        #expect(holder.liveness == .processStartedLater)
        #expect(LockError.caught { () throws(LockError) in try lock.breakLock() } == nil)
        #expect(!sandbox.lockExists)
    }

    /// Started within the allowance for a wall-clock step after the record: perhaps
    /// the writer, perhaps not; judged as a record from another host.
    @Test func aProcessThatStartedMomentsAfterTheRecordIsJudgedAsAnotherHostsLock() throws {
        let written = LockFiles.nanoseconds(secondsAgo: 5)
        let newcomer = try startedNow()
        sandbox.plant(record(pid: UInt32(newcomer.pid), timestamp: written, checksum: .crc32))
        guard case .held(let holder) = try sandbox.lock().status() else {
            Issue.record("expected held, got \(try sandbox.lock().status())")
            return
        }
        #expect(holder.liveness == .processStartedAroundRecord)
        #expect(holder.isAlive == nil)
        guard case .stale(_, let reason) = try sandbox.lock({ $0.otherHostStaleAfter = .seconds(2) }).status() else {
            Issue.record("expected stale past the other-host threshold")
            return
        }
        #expect(reason == .otherHostOlderThan(.seconds(2)))
    }

    /// The writer itself, alive, is never judged by these rules: it started before its record.
    @Test func theLiveWriterOfAReferenceRecordKeepsItsLockAndIsNamed() throws {
        sandbox.plant(record(pid: UInt32(getpid()), timestamp: LockFiles.nanoseconds(secondsAgo: 0), checksum: .crc32))
        guard case .held(let holder) = try sandbox.lock({ $0.sameHostStaleAfter = .milliseconds(1) }).status() else {
            Issue.record("expected held")
            return
        }
        #expect(holder.liveness == .processExists)
        #expect(holder.program != nil)
    }
}
