import RVFLock
import Testing

/// The library's messages fit what is known of the holder, and use the library's words.
@Suite struct LockErrorAdviceTests {
    let sandbox = LockSandbox()

    func record(pid: UInt32, host: String) -> LockRecord {
        LockRecord(
            pid: pid, hostname: host, timestampNanoseconds: LockFiles.nowNanoseconds(),
            writerID: LockFiles.randomWriterID())
    }

    func busyMessage() throws -> String {
        let error = try #require(LockError.caught { () throws(LockError) in try sandbox.lock().tryAcquire() })
        try #require(error.code == .busy, "\(error)")
        return error.description
    }

    func refusedBreakMessage() throws -> String {
        let error = try #require(LockError.caught { () throws(LockError) in try sandbox.lock().breakLock() })
        try #require(error.code == .notStale, "\(error)")
        return error.description
    }

    @Test func aHolderProvenAliveGetsNoAdviceToBreakIt() throws {
        // pid 1 exists on every Linux machine: alive by kill(pid, 0).
        sandbox.plant(record(pid: 1, host: Host.name))
        for message in [try busyMessage(), try refusedBreakMessage()] {
            #expect(message.contains("pid 1"), "\(message)")
            #expect(message.contains("alive"), "\(message)")
            #expect(!message.contains("breakLock"), "\(message)")
            #expect(!message.contains("force"), "\(message)")
        }
    }

    @Test func aHolderOnAnotherHostMayBeBrokenWithForceInTheLibrarysWords() throws {
        sandbox.plant(record(pid: 1, host: "elsewhere"))
        for message in [try busyMessage(), try refusedBreakMessage()] {
            #expect(message.contains("breakLock(force: true)"), "\(message)")
            #expect(message.contains("host is down"), "\(message)")
            #expect(!message.contains("rvf-lock"), "\(message)")
        }
    }

    @Test func aGoneHolderNotYetStaleMayBeBrokenWithForce() throws {
        let dead = try Host.deadPID(scratch: sandbox.directory)
        sandbox.plant(record(pid: dead, host: Host.name))
        for message in [try busyMessage(), try refusedBreakMessage()] {
            #expect(message.contains("process is gone"), "\(message)")
            #expect(message.contains("breakLock(force: true)"), "\(message)")
            #expect(!message.contains("rvf-lock"), "\(message)")
        }
    }

    @Test func aYoungInvalidLockFileIsNotBrokenButMayBeForced() throws {
        LockFiles.write(Array("not a lock record\n".utf8), to: sandbox.lockFile)
        let busy = try busyMessage()
        #expect(busy.contains("being written"), "\(busy)")
        #expect(!busy.contains("rvf-lock"), "\(busy)")
        let refused = try refusedBreakMessage()
        #expect(refused.contains("breakLock(force: true)"), "\(refused)")
        #expect(!refused.contains("rvf-lock"), "\(refused)")
    }

    @Test func aDirectoryThatRefusesNewFilesIsNotCalledMissing() throws {
        // /proc exists but creates no files: creating the lock file there fails with ENOENT.
        let lock = WriterLock(dataFile: "/proc/rvflock-advice-test.rvf")
        let error = try #require(LockError.caught { () throws(LockError) in try lock.tryAcquire() })
        #expect(error.code == .systemCallFailed, "\(error)")
        #expect(!error.description.contains("create the directory"), "\(error)")
        #expect(error.description.contains("does not let files be created"), "\(error)")
    }

    @Test func aMissingDirectoryIsStillCalledMissing() throws {
        let error = try #require(
            LockError.caught { () throws(LockError) in
                try WriterLock(dataFile: FilePath(sandbox.directory.file("missing/data.rvf"))).tryAcquire()
            })
        #expect(error.description.contains("create the directory"), "\(error)")
    }
}
