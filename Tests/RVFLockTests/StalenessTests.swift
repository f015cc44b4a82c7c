#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import Testing

/// How lock files left by others are judged: held, stale, or invalid.
@Suite struct StalenessTests {
    let sandbox = LockSandbox()

    /// A reference-style record (IEEE CRC32, random writer id) on this host.
    func referenceRecord(pid: UInt32, secondsOld: UInt64, hostname: String = Host.name) -> LockRecord {
        LockRecord(
            pid: pid, hostname: hostname, timestampNanoseconds: LockFiles.nanoseconds(secondsAgo: secondsOld),
            writerID: LockFiles.randomWriterID(), checksum: .crc32)
    }

    func expectBusy(_ lock: WriterLock, sourceLocation: SourceLocation = #_sourceLocation) -> LockError? {
        let error = LockError.caught { () throws(LockError) in try lock.tryAcquire() }
        #expect(error?.code == .busy, "expected busy, got \(String(describing: error))", sourceLocation: sourceLocation)
        return error
    }

    func expectAcquired(_ lock: WriterLock, sourceLocation: SourceLocation = #_sourceLocation) {
        do throws(LockError) {
            let handle = try lock.tryAcquire()
            #expect(sandbox.lockRecord?.writerID == handle.writerID, sourceLocation: sourceLocation)
            try handle.release()
        } catch {
            Issue.record("expected to take the stale lock, got \(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Invalid lock files

    static let invalidContents: [[UInt8]] = [
        [],
        Array("not a lock file".utf8),
        Array(repeating: 0xAB, count: 104),
        Array(
            LockRecord(pid: 1, hostname: "x", timestampNanoseconds: 1, writerID: WriterID(high: 1, low: 1))
                .encoded().prefix(103)),
    ]

    @Test(arguments: invalidContents)
    func invalidLockFileWithAFreshModificationTimeIsNotBroken(_ contents: [UInt8]) throws {
        LockFiles.write(contents, to: sandbox.lockFile)
        let lock = sandbox.lock()
        let error = try #require(expectBusy(lock))
        guard case .invalid(let invalid) = error.status else {
            Issue.record("expected an invalid status, got \(String(describing: error.status))")
            return
        }
        #expect(!invalid.isBreakable)
        #expect(sandbox.lockBytes == contents)
        guard case .invalid(let seen) = try lock.status() else {
            Issue.record("status() does not report the invalid file")
            return
        }
        #expect(!seen.isBreakable)
        let breakError = LockError.caught { () throws(LockError) in try lock.breakLock() }
        #expect(breakError?.code == .notStale)
        #expect(sandbox.lockBytes == contents)
    }

    @Test(arguments: invalidContents)
    func invalidLockFileOlderThanTheSameHostThresholdIsBroken(_ contents: [UInt8]) throws {
        LockFiles.write(contents, to: sandbox.lockFile)
        LockFiles.setModificationTime(sandbox.lockFile, secondsAgo: 60)
        let lock = sandbox.lock()
        guard case .invalid(let invalid) = try lock.status() else {
            Issue.record("status() does not report the invalid file")
            return
        }
        #expect(invalid.isBreakable)
        #expect(invalid.fileAge >= .seconds(59))
        expectAcquired(lock)
    }

    @Test func invalidLockFileIsJudgedByTheConfiguredThreshold() throws {
        LockFiles.write(Array("garbage".utf8), to: sandbox.lockFile)
        LockFiles.setModificationTime(sandbox.lockFile, secondsAgo: 10)
        _ = expectBusy(sandbox.lock())
        expectAcquired(sandbox.lock { $0.sameHostStaleAfter = .seconds(5) })
    }

    // MARK: PIDs that no process can have

    static let impossiblePIDs: [UInt32] = [0, Host.pidMax + 1, 0xFFFF_FFFF]

    @Test(arguments: impossiblePIDs)
    func oldRecordWithAnImpossiblePIDIsStaleWithoutProbing(_ pid: UInt32) throws {
        sandbox.plant(referenceRecord(pid: pid, secondsOld: 60))
        let lock = sandbox.lock()
        guard case .stale(let holder, let reason) = try lock.status() else {
            Issue.record("pid \(pid): expected stale, got \(try lock.status())")
            return
        }
        #expect(holder.liveness == .impossiblePID)
        #expect(reason == .processGoneAndOlderThan(.seconds(30)))
        expectAcquired(lock)
    }

    @Test(arguments: impossiblePIDs)
    func freshRecordWithAnImpossiblePIDIsHeld(_ pid: UInt32) throws {
        sandbox.plant(referenceRecord(pid: pid, secondsOld: 0))
        let lock = sandbox.lock()
        guard case .held(let holder) = try lock.status() else {
            Issue.record("pid \(pid): expected held, got \(try lock.status())")
            return
        }
        #expect(holder.liveness == .impossiblePID)
        _ = expectBusy(lock)
        #expect(sandbox.lockRecord?.pid == pid)
    }

    // MARK: Reference-style records on this host

    /// Older than the same-host threshold, and written after this (live) process started.
    @Test func oldReferenceRecordWithOurLivePIDIsHeld() async throws {
        sandbox.plant(referenceRecord(pid: UInt32(getpid()), secondsOld: 0))
        let lock = sandbox.lock { $0.sameHostStaleAfter = .milliseconds(50) }
        try await Task.sleep(for: .milliseconds(100))
        guard case .held(let holder) = try lock.status() else {
            Issue.record("expected held, got \(try lock.status())")
            return
        }
        #expect(holder.liveness == .processExists)
        #expect(holder.isSameHost)
        #expect(holder.age >= .milliseconds(100))
        let error = try #require(expectBusy(lock))
        #expect(error.holder?.pid == UInt32(getpid()))
        #expect(error.holder?.record.checksum == .crc32)
    }

    @Test func oldReferenceRecordWithADeadPIDIsStale() throws {
        let dead = try Host.deadPID(scratch: sandbox.directory)
        sandbox.plant(referenceRecord(pid: dead, secondsOld: 60))
        let lock = sandbox.lock()
        guard case .stale(let holder, let reason) = try lock.status() else {
            Issue.record("expected stale, got \(try lock.status())")
            return
        }
        #expect(holder.liveness == .noSuchProcess)
        #expect(holder.pid == dead)
        #expect(reason == .processGoneAndOlderThan(.seconds(30)))
        expectAcquired(lock)
    }

    @Test func freshReferenceRecordWithADeadPIDIsHeldUntilOldEnough() throws {
        let dead = try Host.deadPID(scratch: sandbox.directory)
        sandbox.plant(referenceRecord(pid: dead, secondsOld: 5))
        guard case .held(let holder) = try sandbox.lock().status() else {
            Issue.record("expected held, got \(try sandbox.lock().status())")
            return
        }
        #expect(holder.liveness == .noSuchProcess)
        _ = expectBusy(sandbox.lock())
        expectAcquired(sandbox.lock { $0.sameHostStaleAfter = .seconds(2) })
    }

    // MARK: Other hosts

    @Test func recordFromAnotherHostIsHeldUntilOlderThanTheOtherHostThreshold() throws {
        let otherHost = "other-host.example"
        #expect(otherHost != Host.name)
        // A PID that is dead here must not matter: it belongs to the other host.
        let dead = try Host.deadPID(scratch: sandbox.directory)
        sandbox.plant(referenceRecord(pid: dead, secondsOld: 200, hostname: otherHost))
        let lock = sandbox.lock()
        guard case .held(let holder) = try lock.status() else {
            Issue.record("expected held, got \(try lock.status())")
            return
        }
        #expect(!holder.isSameHost)
        #expect(holder.liveness == .unknowable)
        #expect(holder.isAlive == nil)
        _ = expectBusy(lock)

        sandbox.plant(referenceRecord(pid: dead, secondsOld: 301, hostname: otherHost))
        guard case .stale(_, let reason) = try lock.status() else {
            Issue.record("expected stale, got \(try lock.status())")
            return
        }
        #expect(reason == .otherHostOlderThan(.seconds(300)))
        expectAcquired(lock)
    }

    @Test func otherHostThresholdIsConfigurable() throws {
        sandbox.plant(referenceRecord(pid: 1, secondsOld: 10, hostname: "other-host.example"))
        _ = expectBusy(sandbox.lock())
        expectAcquired(sandbox.lock { $0.otherHostStaleAfter = .seconds(5) })
    }

    // MARK: status() and breakLock()

    @Test func statusReportsFreeHeldStaleAndInvalid() throws {
        let lock = sandbox.lock()
        #expect(try lock.status() == .free)

        let handle = try lock.tryAcquire()
        guard case .held(let holder) = try lock.status() else {
            Issue.record("expected held while we hold it, got \(try lock.status())")
            return
        }
        #expect(holder.writerID == handle.writerID)
        #expect(holder.liveness == .kernelLockHeld)
        #expect(try lock.status().description.contains("pid \(getpid())"))
        try handle.release()

        let dead = try Host.deadPID(scratch: sandbox.directory)
        sandbox.plant(referenceRecord(pid: dead, secondsOld: 60))
        let stale = try lock.status()
        guard case .stale = stale else {
            Issue.record("expected stale, got \(stale)")
            return
        }
        #expect(stale.isBreakable)
        #expect(sandbox.lockExists, "status() must not remove a stale lock")

        LockFiles.write(Array("junk".utf8), to: sandbox.lockFile)
        guard case .invalid(let invalid) = try lock.status() else {
            Issue.record("expected invalid, got \(try lock.status())")
            return
        }
        #expect(invalid.problem == .record(.wrongSize(4)))
    }

    @Test func breakLockRefusesALiveLockAndRemovesAStaleOne() throws {
        let lock = sandbox.lock()
        #expect(try lock.breakLock() == nil)

        let handle = try lock.tryAcquire()
        let error = try #require(LockError.caught { () throws(LockError) in try lock.breakLock() })
        #expect(error.code == .notStale)
        #expect(error.holder?.writerID == handle.writerID)
        #expect(sandbox.lockRecord?.writerID == handle.writerID)
        #expect(handle.scope.isHeld)
        try handle.release()

        let dead = try Host.deadPID(scratch: sandbox.directory)
        let stale = referenceRecord(pid: dead, secondsOld: 60)
        sandbox.plant(stale)
        let removed = try lock.breakLock()
        guard case .stale(let holder, _) = removed else {
            Issue.record("expected the removed lock to be reported stale, got \(String(describing: removed))")
            return
        }
        #expect(holder.record == stale)
        #expect(!sandbox.lockExists)
    }

    @Test func forcedBreakRemovesEvenALiveReferenceLock() throws {
        sandbox.plant(referenceRecord(pid: UInt32(getpid()), secondsOld: 0))
        let lock = sandbox.lock()
        #expect(LockError.caught { () throws(LockError) in try lock.breakLock() }?.code == .notStale)
        let removed = try lock.breakLock(force: true)
        #expect(removed?.holder?.pid == UInt32(getpid()))
        #expect(!sandbox.lockExists)
    }

    // MARK: Clocks

    static let futureTimestamps: [UInt64] = [
        LockFiles.nowNanoseconds() + 365 * 24 * 3600 * 1_000_000_000,
        UInt64.max,
    ]

    @Test(arguments: futureTimestamps)
    func timestampInTheFutureCountsAsFreshAndBreaksNothing(_ timestamp: UInt64) throws {
        let dead = try Host.deadPID(scratch: sandbox.directory)
        for hostname in [Host.name, "other-host.example"] {
            let record = LockRecord(
                pid: dead, hostname: hostname, timestampNanoseconds: timestamp,
                writerID: LockFiles.randomWriterID(), checksum: .crc32)
            sandbox.plant(record)
            let lock = sandbox.lock()
            guard case .held(let holder) = try lock.status() else {
                Issue.record("\(hostname): expected held, got \(try lock.status())")
                continue
            }
            // Never a wrapped-around huge age from the negative difference.
            #expect(holder.age < .seconds(60))
            _ = holder.description
            _ = expectBusy(lock)
            #expect(LockError.caught { () throws(LockError) in try lock.breakLock() }?.code == .notStale)
            #expect(sandbox.lockBytes == record.encoded())
        }
    }

    @Test func invalidLockFileModifiedInTheFutureIsNotBroken() throws {
        LockFiles.write(Array("garbage".utf8), to: sandbox.lockFile)
        LockFiles.setModificationTime(sandbox.lockFile, secondsAgo: -3600)
        let error = try #require(expectBusy(sandbox.lock()))
        guard case .invalid(let invalid) = error.status else {
            Issue.record("expected invalid, got \(String(describing: error.status))")
            return
        }
        #expect(invalid.fileAge < .seconds(60))
        #expect(!invalid.isBreakable)
    }
}
