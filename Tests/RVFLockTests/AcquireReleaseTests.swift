#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import SystemPackage
import Testing

/// Taking and releasing the lock within one process.
@Suite struct AcquireReleaseTests {
    let sandbox = LockSandbox()

    @Test func lockFileIsTheDataFileWithLockAppended() {
        let lock = sandbox.lock()
        #expect(lock.lockFile == FilePath(sandbox.dataFile + ".lock"))
        #expect(WriterLock.lockFile(for: "dir/data.rvf") == "dir/data.rvf.lock")
    }

    @Test func acquiringAFreeLockWritesOurRecordWithCRC32C() throws {
        let handle = try sandbox.lock().tryAcquire()
        let bytes = try #require(sandbox.lockBytes)
        #expect(bytes.count == 104)
        let record = try LockRecord(decoding: bytes)
        #expect(record.pid == UInt32(getpid()))
        #expect(record.hostname == Host.name)
        #expect(record.checksum == .crc32c)
        #expect(record.writerID == handle.writerID)
        #expect(handle.scope.isHeld)
        let age = LockFiles.nowNanoseconds() - record.timestampNanoseconds
        #expect(age < 60 * 1_000_000_000)
        try handle.release()
    }

    @Test func secondAcquisitionInTheSameProcessFailsAtOnceNamingThisProcess() async throws {
        let lock = sandbox.lock()
        let handle = try lock.tryAcquire()
        let clock = ContinuousClock()
        let start = clock.now
        var errors: [LockError] = []
        errors += [try #require(LockError.caught { () throws(LockError) in try lock.tryAcquire() })]
        // Waiting would wait for itself: each way of waiting fails at once instead.
        errors += [try #require(LockError.caught { () throws(LockError) in try lock.acquire(timeout: .seconds(60)) })]
        errors += [try #require(LockError.caught { () throws(LockError) in try lock.waitUntilAvailable(timeout: .seconds(60)) })]
        do throws(LockError) {
            _ = try await lock.acquire(timeout: .seconds(60))
            Issue.record("the async acquire took a lock this process holds")
        } catch {
            errors.append(error)
        }
        #expect(clock.now - start < .seconds(30), "a wait for this process's own lock did not fail at once")
        for error in errors {
            #expect(error.code == .heldByThisProcess)
            let holder = try #require(error.holder)
            #expect(holder.pid == UInt32(getpid()))
            #expect(holder.writerID == handle.writerID)
            #expect(holder.isAlive == true)
            #expect(error.description.contains("this process (pid \(getpid()))"))
        }
        #expect(sandbox.lockRecord?.writerID == handle.writerID)
        try handle.release()
        // Once released, the same process takes it again.
        try lock.tryAcquire().release()
    }

    @Test func releaseRemovesTheLockFileAndFreesTheLock() throws {
        let lock = sandbox.lock()
        let handle = try lock.tryAcquire()
        try handle.release()
        #expect(!sandbox.lockExists)
        #expect(try lock.status() == .free)
        let again = try lock.tryAcquire()
        try again.release()
    }

    @Test func droppingTheHandleReleasesTheLock() throws {
        let lock = sandbox.lock()
        do {
            let handle = try lock.tryAcquire()
            #expect(handle.scope.isHeld && sandbox.lockExists)
        }
        #expect(!sandbox.lockExists)
    }

    @Test func releaseOfALockReplacedByAnotherThrowsTakenOverAndLeavesItInPlace() throws {
        let handle = try sandbox.lock().tryAcquire()
        unlink(sandbox.lockFile)
        let other = LockRecord(
            pid: 1, hostname: "other-host", timestampNanoseconds: LockFiles.nowNanoseconds(),
            writerID: LockFiles.randomWriterID())
        sandbox.plant(other)
        do throws(LockError) {
            try handle.release()
            Issue.record("release succeeded although the lock file is another writer's")
        } catch {
            #expect(error.code == .takenOver)
            #expect(error.holder?.record == other)
        }
        #expect(sandbox.lockBytes == other.encoded())
    }

    @Test func synchronousWithLockReleasesWhenTheBodyThrows() throws {
        struct BodyFailure: Error {}
        let lock = sandbox.lock()
        #expect(throws: BodyFailure.self) {
            try lock.withLock { scope in
                #expect(scope.isHeld)
                #expect(LockFiles.exists(scope.lockFile.string))
                throw BodyFailure()
            }
        }
        #expect(!sandbox.lockExists)
        let handle = try lock.tryAcquire()
        try handle.release()
    }

    @Test func synchronousWithLockReturnsTheBodyResultAndReleases() throws {
        let lock = sandbox.lock()
        let seen = try lock.withLock { scope in sandbox.lockRecord?.writerID == scope.writerID }
        #expect(seen)
        #expect(!sandbox.lockExists)
    }

    @Test func heartbeatRewritesTheTimestampWithAValidChecksum() async throws {
        let handle = try sandbox.lock { $0.heartbeatInterval = .milliseconds(100) }.tryAcquire()
        let first = try #require(sandbox.lockRecord)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        var latest = first
        while clock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            let bytes = try #require(sandbox.lockBytes)
            latest = try LockRecord(decoding: bytes)
            if latest.timestampNanoseconds > first.timestampNanoseconds { break }
        }
        #expect(latest.timestampNanoseconds > first.timestampNanoseconds)
        #expect(latest.checksum == .crc32c)
        #expect(latest.writerID == first.writerID)
        #expect(latest.pid == first.pid)
        #expect(handle.scope.isHeld)
        #expect(handle.scope.record.timestampNanoseconds >= latest.timestampNanoseconds)
        try handle.release()
    }
}
