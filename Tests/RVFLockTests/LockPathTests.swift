#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import Testing

/// What is at the lock path besides lock files, and the temporary files beside it.
@Suite struct LockPathTests {
    let sandbox = LockSandbox()

    @Test func symbolicLinkAtTheLockPathIsNeitherFollowedNorRemoved() throws {
        // The link points at a stale lock: following it would judge and remove the target.
        let target = sandbox.directory.file("target")
        let stale = LockRecord(
            pid: 0, hostname: Host.name, timestampNanoseconds: LockFiles.nanoseconds(secondsAgo: 600),
            writerID: LockFiles.randomWriterID(), checksum: .crc32)
        LockFiles.write(stale.encoded(), to: target)
        #expect(symlink(target, sandbox.lockFile) == 0)
        let lock = sandbox.lock()

        let error = try #require(LockError.caught { () throws(LockError) in try lock.tryAcquire() })
        #expect(error.code == .notARegularFile)
        #expect(error.description.contains("symbolic link"))
        let breakError = try #require(LockError.caught { () throws(LockError) in try lock.breakLock() })
        #expect(breakError.code == .notARegularFile)
        guard case .invalid(let invalid) = try lock.status() else {
            Issue.record("status() should report the symlink as invalid, got \(try lock.status())")
            return
        }
        #expect(!invalid.isBreakable)
        if case .notARegularFile = invalid.problem {} else { Issue.record("problem is \(invalid.problem)") }

        var info = stat()
        #expect(lstat(sandbox.lockFile, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK)
        #expect(LockFiles.read(target) == stale.encoded())
    }

    @Test func namedPipeAtTheLockPathIsNeitherOpenedNorRemoved() throws {
        // Opening a named pipe for reading would block until a writer came.
        #expect(mkfifo(sandbox.lockFile, 0o644) == 0)
        let error = try #require(LockError.caught { () throws(LockError) in try sandbox.lock().tryAcquire() })
        #expect(error.code == .notARegularFile)
        #expect(error.description.contains("named pipe"), "\(error.description)")
        var info = stat()
        #expect(lstat(sandbox.lockFile, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
    }

    @Test func danglingSymbolicLinkAtTheLockPathIsLeftAlone() throws {
        #expect(symlink(sandbox.directory.file("nowhere"), sandbox.lockFile) == 0)
        let error = try #require(LockError.caught { () throws(LockError) in try sandbox.lock().tryAcquire() })
        #expect(error.code == .notARegularFile)
        #expect(LockFiles.exists(sandbox.lockFile))
        #expect(!LockFiles.exists(sandbox.directory.file("nowhere")))
    }

    @Test func directoryAtTheLockPathIsNotRemoved() throws {
        #expect(mkdir(sandbox.lockFile, 0o755) == 0)
        LockFiles.write([1, 2, 3], to: sandbox.lockFile + "/inside")
        let lock = sandbox.lock()
        let error = try #require(LockError.caught { () throws(LockError) in try lock.tryAcquire() })
        #expect(error.code == .notARegularFile)
        #expect(error.description.contains("directory"))
        #expect(LockError.caught { () throws(LockError) in try lock.breakLock(force: true) }?.code == .notARegularFile)
        var info = stat()
        #expect(lstat(sandbox.lockFile, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)
        #expect(LockFiles.read(sandbox.lockFile + "/inside") == [1, 2, 3])
    }

    @Test func namedTemporaryFallbackTakesTheLockAndLeavesNoTemporaries() throws {
        let lock = sandbox.lock { $0.usesNamedTemporaryFiles = true }
        let handle = try lock.tryAcquire()
        let record = try #require(sandbox.lockRecord)
        #expect(record.writerID == handle.writerID)
        #expect(record.pid == UInt32(getpid()))
        #expect(LockFiles.temporaries(in: sandbox.directory).isEmpty)

        // A contender (in this process: it fails at once) cleans up its own temporary.
        let error = LockError.caught { () throws(LockError) in try lock.tryAcquire() }
        #expect(error?.code == .heldByThisProcess)
        #expect(LockFiles.temporaries(in: sandbox.directory).isEmpty)

        try handle.release()
        #expect(sandbox.directory.entries.isEmpty, "left behind: \(sandbox.directory.entries)")

        try lock.withLock { _ in }
        #expect(sandbox.directory.entries.isEmpty, "left behind: \(sandbox.directory.entries)")
    }

    @Test func orphanedTemporaryIsRemovedByTheNextAcquisitionOnlyWhenOldAndUnlocked() throws {
        let orphan = sandbox.directory.file(".data.rvf.lock.99999.deadbeef.tmp")
        let young = sandbox.directory.file(".data.rvf.lock.99998.cafe.tmp")
        let locked = sandbox.directory.file(".data.rvf.lock.99997.f00d.tmp")
        for path in [orphan, young, locked] {
            LockFiles.write(Array(repeating: 0, count: 104), to: path)
        }
        LockFiles.setModificationTime(orphan, secondsAgo: 60)
        LockFiles.setModificationTime(locked, secondsAgo: 60)
        // A temporary whose creator is alive (it holds the file's flock) must stay.
        let descriptor = open(locked, O_RDONLY | O_CLOEXEC)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)

        let handle = try sandbox.lock { $0.usesNamedTemporaryFiles = true }.tryAcquire()
        #expect(!LockFiles.exists(orphan))
        #expect(LockFiles.exists(young))
        #expect(LockFiles.exists(locked))
        try handle.release()
    }
}
