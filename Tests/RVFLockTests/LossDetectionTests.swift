#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import SystemPackage
import Testing

/// A holder learns when its lock file is taken from it.
@Suite struct LossDetectionTests {
    let sandbox = LockSandbox()

    @Test func isHeldTurnsFalseSoonAfterTheLockFileIsDeleted() async throws {
        let handle = try sandbox.lock().tryAcquire()
        #expect(handle.scope.isHeld)
        try handle.checkHeld()
        unlink(sandbox.lockFile)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(2)
        while handle.isHeld && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(!handle.scope.isHeld)
        let error = try #require(LockError.caught { () throws(LockError) in try handle.checkHeld() })
        #expect(error.code == .lockLost)
    }

    @Test func checkHeldNoticesAReplacedLockFileAtOnce() throws {
        let handle = try sandbox.lock { $0.heartbeatInterval = .seconds(60) }.tryAcquire()
        let replacement = sandbox.directory.file("replacement")
        LockFiles.write(
            LockRecord(
                pid: 1, hostname: "elsewhere", timestampNanoseconds: LockFiles.nowNanoseconds(),
                writerID: LockFiles.randomWriterID()
            ).encoded(), to: replacement)
        rename(replacement, sandbox.lockFile)
        let error = try #require(LockError.caught { () throws(LockError) in try handle.checkHeld() })
        #expect(error.code == .lockLost)
        #expect(!handle.scope.isHeld)
        #expect(error.status?.holder?.hostname == "elsewhere")
    }

    @Test func synchronousWithLockReportsALockRemovedWhileTheBodyRan() throws {
        let lock = sandbox.lock()
        let lockFile = sandbox.lockFile
        do throws(LockError) {
            try lock.withLock { scope in
                unlink(lockFile)
                // A synchronous body is not cancelled; it can see the loss through its scope.
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(2)
                while scope.isHeld && clock.now < deadline { usleep(10_000) }
                #expect(!scope.isHeld)
            }
            Issue.record("withLock returned normally although its lock file was removed")
        } catch {
            // The synchronous withLock documents either code for this case.
            #expect(error.code == .lockLost || error.code == .takenOver, "\(error)")
        }
        #expect(!sandbox.lockExists)
    }

    @Test func asyncWithLockReleasesWhenTheBodyThrows() async throws {
        struct BodyFailure: Error {}
        let lock = sandbox.lock()
        await #expect(throws: BodyFailure.self) {
            try await lock.withLock { _ in throw BodyFailure() }
        }
        #expect(!sandbox.lockExists)
        let handle = try lock.tryAcquire()
        try handle.release()
    }

    @Test func asyncWithLockReturnsTheBodyResultAndReleases() async throws {
        let lock = sandbox.lock()
        let writerIDInFile = try await lock.withLock { scope in
            LockFiles.record(at: scope.lockFile.string)?.writerID == scope.writerID
        }
        #expect(writerIDInFile)
        #expect(!sandbox.lockExists)
    }
}
