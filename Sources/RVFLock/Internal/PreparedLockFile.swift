#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

/// A complete lock file that is not yet at the lock path.
///
/// The record is written and synced, and the file's `flock()` taken, before the
/// file gets its name; `link()` then gives it the lock path atomically or fails
/// with EEXIST. So no process ever sees a lock file half-written, and no process
/// ever sees an RVFLock lock file whose kernel lock is free while its writer lives.
///
/// On Linux the file is created with `O_TMPFILE`: it has no name until linked,
/// so a crash leaves nothing behind. Elsewhere, or where the file system refuses
/// `O_TMPFILE`, it is a uniquely named hidden file beside the lock, and leftovers
/// of crashed processes are removed by ``removeOrphanedTemporaries(in:lockName:)``.
final class PreparedLockFile {
    private(set) var descriptor: CInt
    private(set) var record: LockRecord
    private var temporaryName: FilePath?
    let identity: FileIdentity

    /// Creates the file beside `lockFile` and writes `record` into it.
    init(lockFile: FilePath, record: LockRecord, useNamedTemporary: Bool) throws(SystemCallError) {
        let directory = lockFile.removingLastComponent().isEmpty ? FilePath(".") : lockFile.removingLastComponent()
        var created: CInt? = nil
        var temporaryName: FilePath? = nil
        if !useNamedTemporary {
            created = try Syscalls.openUnnamedTemporary(in: directory)
        }
        if created == nil {
            let lockName = lockFile.lastComponent?.string ?? "lock"
            Self.removeOrphanedTemporaries(in: directory, lockName: lockName)
            let name = directory.appending(".\(lockName).\(Syscalls.processID).\(String(Syscalls.randomUInt64(), radix: 16)).tmp")
            created = try Syscalls.open(name, flags: O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
            temporaryName = name
        }
        let descriptor = created!
        do throws(SystemCallError) {
            // Taken before the file has its lock name, so that the kernel lock is
            // held for the whole time any other process can see the file.
            guard try Syscalls.flockNonBlocking(descriptor, LOCK_EX) else {
                throw SystemCallError(name: "flock", errno: .wouldBlock)
            }
            try Syscalls.pwriteAll(descriptor, record.encoded(), at: 0)
            try Syscalls.fsync(descriptor)
            identity = FileIdentity(try Syscalls.fstat(descriptor))
        } catch {
            if let temporaryName { try? Syscalls.unlink(temporaryName) }
            Syscalls.close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.record = record
        self.temporaryName = temporaryName
    }

    deinit { discard() }

    /// Rewrites the timestamp (and so the checksum) with the current time.
    ///
    /// Not synced: the page cache is what other processes read, and a synced
    /// copy of the first timestamp already exists.
    func refreshTimestamp() throws(SystemCallError) {
        record.timestampNanoseconds = Syscalls.wallClockNanoseconds()
        try Syscalls.pwriteAll(descriptor, record.encoded(), at: 0)
    }

    /// Gives the file the lock path; false if the path is taken.
    func link(to lockFile: FilePath) throws(SystemCallError) -> Bool {
        do {
            if let temporaryName {
                try Syscalls.link(temporaryName, to: lockFile)
            } else {
                try Syscalls.linkDescriptor(descriptor, to: lockFile)
            }
        } catch where error.errno == .fileExists {
            return false
        }
        if let temporaryName {
            try? Syscalls.unlink(temporaryName)
            self.temporaryName = nil
        }
        return true
    }

    /// Hands the descriptor (and its kernel lock) to the caller; this object no longer closes it.
    func takeDescriptor() -> CInt {
        let taken = descriptor
        descriptor = -1
        return taken
    }

    private func discard() {
        if let temporaryName {
            try? Syscalls.unlink(temporaryName)
            self.temporaryName = nil
        }
        if descriptor >= 0 {
            Syscalls.close(descriptor)
            descriptor = -1
        }
    }

    /// Removes named temporaries of this lock that no live process holds.
    ///
    /// A temporary's creator holds its `flock()` from creation until it links or
    /// removes it; one whose kernel lock is free and that has not changed for a
    /// few seconds belongs to a process that died.
    static func removeOrphanedTemporaries(in directory: FilePath, lockName: String) {
        let prefix = ".\(lockName)."
        for name in Syscalls.directoryEntries(directory) where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            let path = directory.appending(name)
            guard let descriptor = try? Syscalls.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { continue }
            defer { Syscalls.close(descriptor) }
            guard let info = try? Syscalls.fstat(descriptor), FileIdentity.kind(of: info) == nil,
                  FileIdentity.modificationAge(of: info, nowNanoseconds: Syscalls.wallClockNanoseconds()) > .seconds(5),
                  (try? Syscalls.flockNonBlocking(descriptor, LOCK_EX)) == true,
                  let current = try? Syscalls.lstat(path), FileIdentity(current) == FileIdentity(info)
            else { continue }
            try? Syscalls.unlink(path)
        }
    }
}
