import RVFLock
import SystemPackage

/// A data file path in a fresh directory, and its writer lock.
struct LockSandbox: Sendable {
    let directory: TemporaryDirectory
    let dataFile: String
    var lockFile: String { dataFile + ".lock" }

    /// - Parameters:
    ///   - base: the directory the sandbox is made in (its file system is the lock's).
    ///   - name: the data file's name.
    init(in base: String = "/tmp", name: String = "data.rvf") {
        directory = TemporaryDirectory("rvflock-tests", in: base)
        dataFile = directory.file(name)
    }

    func lock(_ configure: (inout LockOptions) -> Void = { _ in }) -> WriterLock {
        var options = LockOptions()
        configure(&options)
        return WriterLock(dataFile: FilePath(dataFile), options: options)
    }

    /// Plants `record` as the lock file.
    func plant(_ record: LockRecord) {
        LockFiles.write(record.encoded(), to: lockFile)
    }

    /// Plants the stale lock a reference process leaves when it dies: its PID (now
    /// dead), this host, 60 s old, CRC-32; returns the dead PID.
    @discardableResult
    func plantStaleReferenceLock() throws -> UInt32 {
        let dead = try Host.deadPID(scratch: directory)
        plant(
            LockRecord(
                pid: dead, hostname: Host.name, timestampNanoseconds: LockFiles.nanoseconds(secondsAgo: 60),
                writerID: LockFiles.randomWriterID(), checksum: .crc32))
        return dead
    }

    var lockBytes: [UInt8]? { LockFiles.read(lockFile) }
    var lockRecord: LockRecord? { LockFiles.record(at: lockFile) }
    var lockExists: Bool { LockFiles.exists(lockFile) }
}

extension LockError {
    /// Runs `body` and returns the LockError it throws, or nil if it throws none.
    static func caught<T: ~Copyable>(_ body: () throws(LockError) -> T) -> LockError? {
        do throws(LockError) {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }
}
