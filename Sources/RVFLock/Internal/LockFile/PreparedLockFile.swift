#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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
    private(set) var descriptor: CInt
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
        var created: CInt? = nil
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
        let fileSystem = Syscalls.fileSystemType(descriptor)
        syncs = options.syncPolicy.syncs(on: fileSystem)
        createdAt = Syscalls.monotonicNanoseconds()
        do throws(LockError) {
            // Taken before the file has its lock name, so that the kernel lock is
            // held for the whole time any other process can see the file.
            do throws(SystemCallError) {
                guard try Syscalls.flockNonBlocking(descriptor, LOCK_EX) else {
                    throw SystemCallError(name: "flock", errno: .wouldBlock)
                }
            } catch {
                switch error.errno {
                case .notSupported, .noLocks, .invalidArgument, .noFunction, .badFileDescriptor:
                    throw LockError.unsupportedFileSystem(
                        location.lockFile, fileSystem: fileSystem.name, missing: LockFileSystem.Requirement.fileLocks.description,
                        systemCall: error.name, errno: error.errno)
                default:
                    throw LockError.system(error, lockFile: location.lockFile, doing: "creating")
                }
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
                } else {
                    try Syscalls.linkDescriptor(descriptor, to: directory, name)
                }
            }
        } catch where error.errno == .fileExists {
            return false
        }
        if let temporaryName {
            temporaryName.withUnsafeBufferPointer { _ = try? Syscalls.unlinkAt(directory, $0.baseAddress!) }
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

    /// Removes the named temporary (if any) and closes the file.
    func discard() {
        if let temporaryName {
            temporaryName.withUnsafeBufferPointer { _ = try? Syscalls.unlinkAt(directory.descriptor, $0.baseAddress!) }
            self.temporaryName = nil
        }
        if descriptor >= 0 {
            Syscalls.close(descriptor)
            descriptor = -1
        }
    }

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
