#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import SystemPackage
import Testing

/// A data file named like a lock file (`data.rvf.lock`) is nearly always the lock
/// file given by mistake: locking it would lock `data.rvf.lock.lock` and exclude
/// nobody, while `data.rvf`'s writer goes on.
@Suite struct LockSuffixTests {
    let sandbox = LockSandbox()

    /// Every operation on `lock`, each with the error it threw (nil if none).
    func errors(of lock: WriterLock) -> [(String, LockError?)] {
        [
            ("tryAcquire", LockError.caught { () throws(LockError) in try lock.tryAcquire() }),
            ("status", LockError.caught { () throws(LockError) in try lock.status() }),
            ("breakLock", LockError.caught { () throws(LockError) in try lock.breakLock() }),
            ("waitUntilAvailable", LockError.caught { () throws(LockError) in try lock.waitUntilAvailable(timeout: .zero) }),
        ]
    }

    @Test func aLockFileGivenAsTheDataFileIsRefusedWithTheDataFileNamed() throws {
        // The real data file's lock is held; "locking" its lock file must not look like a success.
        let held = try sandbox.lock().tryAcquire()
        let mistaken = WriterLock(dataFile: sandbox.lockFile)
        for (operation, error) in errors(of: mistaken) {
            #expect(error?.code == .invalidPath, "\(operation): \(String(describing: error))")
            #expect(error?.description.contains("\(sandbox.lockFile) is a lock file") == true, "\(operation)")
            #expect(error?.description.contains("the data file is \(sandbox.dataFile)") == true, "\(operation)")
            #expect(error?.description.contains("allowsLockSuffix") == true, "\(operation)")
        }
        #expect(!LockFiles.exists(sandbox.lockFile + ".lock"))
        try held.release()
    }

    @Test func aSymbolicLinkToALockFileIsRefusedToo() throws {
        let link = sandbox.directory.file("link.rvf")
        #expect(symlink(sandbox.lockFile, link) == 0)
        let error = LockError.caught { () throws(LockError) in try WriterLock(dataFile: link).tryAcquire() }
        #expect(error?.code == .invalidPath, "\(String(describing: error))")
        #expect(error?.description.contains("\(link) leads to \(sandbox.lockFile)") == true, "\(String(describing: error))")
        #expect(!LockFiles.exists(sandbox.lockFile + ".lock"))
    }

    @Test func aDataFileThatReallyEndsInLockIsLockedWhenTheOptionsSaySo() throws {
        var options = LockOptions()
        options.allowsLockSuffix = true
        let lock = WriterLock(dataFile: sandbox.lockFile, options: options)
        let handle = try lock.tryAcquire()
        #expect(LockFiles.exists(sandbox.lockFile + ".lock"))
        #expect(!LockFiles.exists(sandbox.lockFile))
        try handle.release()
        #expect(!LockFiles.exists(sandbox.lockFile + ".lock"))
    }

    @Test func aNameThatOnlyContainsLockIsAnOrdinaryDataFile() throws {
        for name in ["data.lock.rvf", "lockfile", "data.rvf.locked"] {
            let handle = try WriterLock(dataFile: sandbox.directory.file(name)).tryAcquire()
            try handle.release()
        }
    }
}
