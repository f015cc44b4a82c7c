import Glibc
import Synchronization
import SystemPackage

/// A complete lock file that is not yet at the lock path.
///
/// The record is written (and synced where that matters, see ``SyncPolicy``),
/// and the file's `flock()` taken, before the file gets its name; `link()` then
/// gives it the lock path atomically or fails with EEXIST. So no process ever
/// sees a lock file half-written, and no process ever sees an RVFLock lock file
/// whose kernel lock is free while its writer lives.
///
/// On Linux the file is created with `O_TMPFILE`: it has no name until linked,
/// so a crash leaves nothing behind. Elsewhere, or where the file system refuses
/// `O_TMPFILE`, it is a uniquely named hidden file beside the lock, and leftovers
/// of crashed processes are removed by ``removeOrphans(of:)``.
final class PreparedLockFile {
    /// Nil once handed over (``takeDescriptor()``) or discarded.
    private(set) var descriptor: FileDescriptor?
    let record: LockRecord
    private var temporaryName: [CChar]?
    private let directory: LockDirectory
    let identity: FileIdentity
    /// Whether writes to this file are synced: decided once, by the file system it is on.
    let syncs: Bool
    /// When the file was created (monotonic ns): its birth time is what `status` reports as "held since".
    let createdAt: UInt64

    /// Creates the file beside the lock and writes `record` into it.
    ///
    /// - Parameter descriptorFloor: the lowest number its descriptor may have
    ///   (see ``MonitorThread/lockDescriptorFloor``).
    init(location: LockLocation, record: LockRecord, options: LockOptions, descriptorFloor: CInt) throws(LockError) {
        let directory = location.directory.descriptor
        var created: FileDescriptor? = nil
        var temporaryName: [CChar]? = nil
        do throws(SystemCallError) {
            if !options.usesNamedTemporaryFiles {
                created = try Syscalls.openUnnamedTemporary(in: directory, mode: 0o644)
            }
            if created == nil {
                Self.removeOrphans(of: location)
                let name = location.temporaryName(purpose: "tmp")
                created = try name.withUnsafeBufferPointer { (name) throws(SystemCallError) in
                    try Syscalls.openAt(directory, name.baseAddress!, flags: O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
                }
                temporaryName = name
            }
        } catch {
            throw .system(error, lockFile: location.lockFile, doing: "creating")
        }
        let descriptor = Syscalls.raised(created!, toAtLeast: descriptorFloor)
        let fileSystem = Syscalls.fileSystemType(descriptor, onMount: location.mountID)
        syncs = options.syncPolicy.syncs(on: fileSystem)
        createdAt = Syscalls.monotonicNanoseconds()
        do throws(LockError) {
            // Taken before the file has its lock name, so that the kernel lock is
            // held for the whole time any other process can see the file.
            do throws(SystemCallError) {
                guard try Syscalls.flockNonBlocking(descriptor, LOCK_EX) else {
                    throw SystemCallError(name: "flock", errno: .wouldBlock)
                }
            } catch  where error.errno.meansNoFileLocks {
                throw LockError.unsupportedFileSystem(
                    location.lockFile, fileSystem: fileSystem.name, missing: LockFileSystem.Requirement.fileLocks.description,
                    systemCall: error.name, errno: error.errno)
            } catch {
                throw LockError.system(error, lockFile: location.lockFile, doing: "creating")
            }
            do throws(SystemCallError) {
                try record.withEncodedBytes { (bytes) throws(SystemCallError) in try Syscalls.pwriteAll(descriptor, bytes, at: 0) }
                if syncs { try Syscalls.fsync(descriptor) }
                identity = FileIdentity(try Syscalls.fstat(descriptor))
            } catch {
                throw LockError.system(error, lockFile: location.lockFile, doing: "creating")
            }
        } catch {
            if let temporaryName { temporaryName.withUnsafeBufferPointer { _ = try? Syscalls.unlinkAt(directory, $0.baseAddress!) } }
            Syscalls.close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.record = record
        self.temporaryName = temporaryName
        self.directory = location.directory
    }

    deinit { discard() }

    /// Gives the file the lock path; false if the path is taken.
    func link(to location: LockLocation) throws(SystemCallError) -> Bool {
        let directory = location.directory.descriptor
        do {
            try location.withName { (name) throws(SystemCallError) in
                if let temporaryName {
                    try temporaryName.withUnsafeBufferPointer { (source) throws(SystemCallError) in
                        try Syscalls.linkAt(directory, source.baseAddress!, directory, name)
                    }
                } else if let descriptor {
                    try Syscalls.linkDescriptor(descriptor, to: directory, name)
                } else {
                    throw SystemCallError(name: "linkat", errno: .badFileDescriptor)
                }
            }
        } catch  where error.errno == .fileExists {
            return false
        }
        if let temporaryName {
            temporaryName.withUnsafeBufferPointer { _ = try? Syscalls.unlinkAt(directory, $0.baseAddress!) }
            self.temporaryName = nil
        }
        return true
    }

    /// What ``replace(_:judged:location:)`` did.
    enum Replacement {
        /// This file is at the lock path now, and the judged one is gone.
        case replaced
        /// The path did not name the judged file (or its bytes changed), or this file
        /// system cannot swap names: nothing was changed. Judge (or link) again.
        case changed
        /// The file system has no `RENAME_EXCHANGE` (NFS): break and link instead.
        case unsupported
        /// What came out of the swap was not the judged file, and this file was no
        /// longer at the lock path to swap back (only a writer that takes no
        /// `flock()` can bring that about): the other file stays, intact, at this
        /// file's private name, and this acquisition needs a new file.
        case startAnew
    }

    /// Gives this file a private name beside the lock, if it has none (an
    /// `O_TMPFILE`): a waiter does it before it queues, so that taking over the
    /// lock from the file at the lock path is one `renameat2`.
    func name(in location: LockLocation) throws(LockError) {
        guard temporaryName == nil, let descriptor else { return }
        let name = location.temporaryName(purpose: "tmp")
        do throws(SystemCallError) {
            try name.withUnsafeBufferPointer { (name) throws(SystemCallError) in
                try Syscalls.linkDescriptor(descriptor, to: directory.descriptor, name.baseAddress!)
            }
        } catch {
            throw .system(error, lockFile: location.lockFile, doing: "naming the new lock file of")
        }
        temporaryName = name
    }

    /// Takes the lock path over from `file`, whose kernel lock the caller holds and
    /// which was judged stale (its holder died): swaps this
    /// file's private name with the lock path (`RENAME_EXCHANGE`), so that the path
    /// never names nothing, then removes the old file from the private name.
    ///
    /// A writer that takes no `flock()` (the reference) may have replaced the judged
    /// file in the moment before the swap: then what came out is not the judged
    /// file, and the swap is undone at once (its file goes back to the lock path;
    /// nothing of its is ever unlinked).
    func replace(_ file: OpenLockFile, judged: [UInt8], location: LockLocation) throws(LockError) -> Replacement {
        guard try file.isAtLockPath(), try file.currentBytes() == judged else { return .changed }
        try name(in: location)
        guard let temporaryName else { return .changed }
        let directory = directory.descriptor
        return try location.performing("taking over") { () throws(SystemCallError) -> Replacement in
            try temporaryName.withUnsafeBufferPointer { (own) throws(SystemCallError) -> Replacement in
                try location.withName { (lockName) throws(SystemCallError) -> Replacement in
                    do throws(SystemCallError) {
                        try Syscalls.renameExchange(directory, own.baseAddress!, lockName)
                    } catch  where error.errno.meansUnsupportedCall {
                        return .unsupported
                    } catch  where error.errno == .noSuchFileOrDirectory {
                        return .changed
                    }
                    let swapped = try Syscalls.lstatAt(directory, own.baseAddress!)
                    guard let swapped, FileIdentity(swapped) == file.identity else {
                        // Not the judged file: give it its name back, and take this file's
                        // back, if this file is still at the lock path.
                        guard let current = try Syscalls.lstatAt(directory, lockName),
                            FileIdentity(current) == identity
                        else {
                            self.temporaryName = nil
                            return .startAnew
                        }
                        try Syscalls.renameExchange(directory, own.baseAddress!, lockName)
                        return .changed
                    }
                    // This file has the lock name now; the old one holds the private name.
                    self.temporaryName = nil
                    _ = try? Syscalls.unlinkAt(directory, own.baseAddress!)
                    return .replaced
                }
            }
        }
    }

    /// Hands the descriptor (and its kernel lock) to the caller; this object no longer closes it.
    func takeDescriptor() -> FileDescriptor {
        guard let taken = descriptor else { preconditionFailure("a prepared lock file's descriptor is handed over once") }
        descriptor = nil
        return taken
    }

    /// Removes the named temporary (if any) and closes the file.
    func discard() {
        if let temporaryName {
            temporaryName.withUnsafeBufferPointer { _ = try? Syscalls.unlinkAt(directory.descriptor, $0.baseAddress!) }
            self.temporaryName = nil
        }
        if let descriptor {
            Syscalls.close(descriptor)
            self.descriptor = nil
        }
    }

    /// ``removeOrphans(of:)`` once per lock and process: waiters name their files, and
    /// one that was killed leaves its name behind. Called by a holder's own thread,
    /// off the path of any acquisition.
    static func removeOrphansOnce(of location: LockLocation) {
        let first = cleaned.withLock { cleaned in
            guard !cleaned.contains(location.key) else { return false }
            cleaned.append(location.key)
            return true
        }
        if first { removeOrphans(of: location) }
    }

    /// The locks whose orphans this process removed (an array: a process takes a few locks).
    private static let cleaned = Mutex<[ProcessQueue.Key]>([])

    /// Removes private files of this lock that no live process holds: named
    /// temporaries of crashed acquirers and judged files of crashed breakers.
    ///
    /// Their creator holds their `flock()` from creation until it links or removes
    /// them; one whose kernel lock is free and that has not changed for a few
    /// seconds belongs to a process that died.
    static func removeOrphans(of location: LockLocation) {
        let directory = location.directory.descriptor
        for name in Syscalls.directoryEntries(directory)
        where location.isPrivateName(name) && !name.hasSuffix("." + LockLocation.displacedPurpose) {
            guard let descriptor = try? Syscalls.openAt(directory, name, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { continue }
            defer { Syscalls.close(descriptor) }
            guard let info = try? Syscalls.fstat(descriptor), FileIdentity.kind(of: info) == nil,
                FileIdentity.modificationAge(of: info, nowNanoseconds: Syscalls.wallClockNanoseconds()) > .seconds(5),
                (try? Syscalls.flockNonBlocking(descriptor, LOCK_EX)) == true,
                let current = try? Syscalls.lstatAt(directory, name), FileIdentity(current) == FileIdentity(info)
            else { continue }
            _ = try? Syscalls.unlinkAt(directory, name)
        }
    }
}
