import Glibc
import CRVFLockShims
import SystemPackage

/// One open of whatever file is at the lock path: to judge it, to wait in the
/// kernel's queue for its `flock()`, and, under that lock, to remove exactly it.
///
/// Its operations throw ``LockError`` naming the lock file and what was being
/// done (`action`: judging, waiting for, breaking), since it knows where it is.
///
/// Opening never follows a symbolic link. Judges and waiters open for writing
/// when they may (NFSv4 refuses an exclusive `flock()` on a descriptor open
/// only for reading, since Linux emulates `flock()` there with whole-file POSIX
/// locks); observers open for reading and take only shared locks, so that no
/// one mistakes them for a holder.
final class OpenLockFile {
    let location: LockLocation
    /// What this open is for, as failures name it ("judging", "breaking", ...).
    let action: String
    let descriptor: FileDescriptor
    let identity: FileIdentity
    let isWritable: Bool
    /// The kernel lock this object holds on the file.
    private(set) var hold: Hold = .none
    /// Set once the descriptor was handed to a holder (``takeDescriptor()``).
    private var handedOver = false
    /// The file's status when it was opened.
    let info: stat

    enum Hold { case none, shared, exclusive }

    /// What a non-blocking try for the exclusive kernel lock found.
    enum ExclusiveProbe {
        /// This object now holds it.
        case acquired
        /// Another open file holds it exclusively: a live holder, or a judge at work.
        case heldExclusively
        /// Only shared locks stand in the way: observers, for microseconds.
        case sharedOnly
        /// The file system refused the call (errno): see ``LockError/unsupportedFileSystem(_:fileSystem:missing:systemCall:errno:)``.
        case refused(Errno)
    }

    private init(location: LockLocation, action: String, descriptor: FileDescriptor, info: stat, isWritable: Bool) {
        self.location = location
        self.action = action
        self.descriptor = descriptor
        self.info = info
        self.identity = FileIdentity(info)
        self.isWritable = isWritable
    }

    deinit { if !handedOver { Syscalls.close(descriptor) } }

    /// Hands the descriptor, and the kernel lock on it, to the caller; this object
    /// no longer closes it, and must not be used after.
    func takeDescriptor() -> FileDescriptor {
        handedOver = true
        hold = .none
        return descriptor
    }

    /// Adopts a descriptor already open on a lock file (no kernel lock held); nil if
    /// it cannot be looked at, in which case it is closed.
    static func adopting(_ descriptor: FileDescriptor, location: LockLocation, action: String) -> OpenLockFile? {
        guard let info = try? Syscalls.fstat(descriptor) else {
            Syscalls.close(descriptor)
            return nil
        }
        return OpenLockFile(location: location, action: action, descriptor: descriptor, info: info, isWritable: true)
    }

    /// Runs a system call on this file, naming the lock file and this open's action in a failure.
    private func performing<T>(_ body: () throws(SystemCallError) -> T) throws(LockError) -> T {
        try location.performing(action, body)
    }

    /// Opens the file at the lock path; nil when nothing is there.
    ///
    /// - Throws: ``LockError/Code/notARegularFile`` for a directory, symbolic
    ///   link, FIFO, socket or device at the lock path (never opened through, never removed).
    static func open(_ location: LockLocation, forWriting: Bool, action: String) throws(LockError) -> OpenLockFile? {
        // O_NONBLOCK: a FIFO planted at the lock path must not hang the opener.
        let common = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY
        let descriptor: FileDescriptor
        var writable = forWriting
        do throws(SystemCallError) {
            descriptor = try location.withName { (name) throws(SystemCallError) in
                do throws(SystemCallError) {
                    return try Syscalls.openAt(location.directory.descriptor, name, flags: (forWriting ? O_RDWR : O_RDONLY) | common)
                } catch  where forWriting && [Errno.permissionDenied, .readOnlyFileSystem, .notPermitted].contains(error.errno) {
                    // Another user's lock file (0644), or a read-only mount: judging still works
                    // on local file systems; on NFS the exclusive lock is then refused and said so.
                    writable = false
                    return try Syscalls.openAt(location.directory.descriptor, name, flags: O_RDONLY | common)
                }
            }
        } catch {
            switch error.errno {
            case .noSuchFileOrDirectory:
                return nil
            case .tooManySymbolicLinkLevels:
                throw .notARegularFile(location.lockFile, kind: "symbolic link")
            case .noSuchAddressOrDevice:
                throw .notARegularFile(location.lockFile, kind: "socket")
            case .isDirectory:
                throw .notARegularFile(location.lockFile, kind: "directory")
            default:
                throw .system(error, lockFile: location.lockFile, doing: "reading the lock file")
            }
        }
        let info: stat
        do throws(SystemCallError) {
            info = try Syscalls.fstat(descriptor)
        } catch {
            Syscalls.close(descriptor)
            throw .system(error, lockFile: location.lockFile, doing: "reading the lock file")
        }
        if let kind = FileIdentity.kind(of: info) {
            Syscalls.close(descriptor)
            throw .notARegularFile(location.lockFile, kind: kind)
        }
        return OpenLockFile(location: location, action: action, descriptor: descriptor, info: info, isWritable: writable)
    }

    /// True once the file has no name left: its holder released it, or it was broken.
    func isUnlinked() throws(LockError) -> Bool {
        try performing { () throws(SystemCallError) in try Syscalls.fstat(descriptor).st_nlink == 0 }
    }

    /// Whether the lock path still names this very file.
    func isAtLockPath() throws(LockError) -> Bool {
        try performing { () throws(SystemCallError) in try location.lstat().map { FileIdentity($0) == identity } ?? false }
    }

    /// Tries the exclusive kernel lock without waiting; when refused, asks whether
    /// only shared holders (observers) stand in the way.
    func tryExclusive() throws(LockError) -> ExclusiveProbe {
        try performing { () throws(SystemCallError) in try probeExclusive() }
    }

    private func probeExclusive() throws(SystemCallError) -> ExclusiveProbe {
        do {
            if try Syscalls.flockNonBlocking(descriptor, LOCK_EX) {
                hold = .exclusive
                return .acquired
            }
        } catch {
            if let refusal = Self.refusal(error) { return .refused(refusal) }
            throw error
        }
        do {
            guard try Syscalls.flockNonBlocking(descriptor, LOCK_SH) else { return .heldExclusively }
        } catch {
            if let refusal = Self.refusal(error) { return .refused(refusal) }
            throw error
        }
        // Only observers: let go again at once, not to delay them or anyone else.
        Syscalls.unlock(descriptor)
        return .sharedOnly
    }

    /// Tries a shared kernel lock without waiting: the observer's look. False when
    /// someone holds it exclusively.
    func tryShared() throws(LockError) -> Bool? {
        try performing { () throws(SystemCallError) in try probeShared() }
    }

    private func probeShared() throws(SystemCallError) -> Bool? {
        do {
            guard try Syscalls.flockNonBlocking(descriptor, LOCK_SH) else { return false }
        } catch {
            if Self.refusal(error) != nil { return nil }
            throw error
        }
        hold = .shared
        return true
    }

    /// Errors by which a file system says it has no usable `flock()` for this descriptor.
    private static func refusal(_ error: SystemCallError) -> Errno? {
        error.errno.meansNoFileLocks ? error.errno : nil
    }

    /// Waits in the kernel's queue for the exclusive lock.
    func waitForExclusive(timeout: Duration?, cancellation: WaitCancellation) throws(LockError) -> WaitCancellation.QueueOutcome {
        let outcome = try performing { () throws(SystemCallError) in
            try cancellation.waitInKernelQueue(descriptor, operation: LOCK_EX, timeout: timeout)
        }
        if outcome == .granted { hold = .exclusive }
        return outcome
    }

    /// Waits in the kernel's queue for a shared lock (an observer waiting for a holder to go).
    func waitForShared(timeout: Duration?, cancellation: WaitCancellation) throws(LockError) -> WaitCancellation.QueueOutcome {
        let outcome = try performing { () throws(SystemCallError) in
            try cancellation.waitInKernelQueue(descriptor, operation: LOCK_SH, timeout: timeout)
        }
        if outcome == .granted { hold = .shared }
        return outcome
    }

    /// Lets go of this object's kernel lock.
    func letGo() {
        guard hold != .none else { return }
        Syscalls.unlock(descriptor)
        hold = .none
    }

    /// The file's bytes (one more than a record, to tell a longer file).
    ///
    /// A live holder rewrites its record in place at each heartbeat, and a read
    /// racing that write can see half of each: bytes that do not decode are read
    /// again a few times before they count.
    func currentBytes() throws(LockError) -> [UInt8] {
        try performing { () throws(SystemCallError) in try readBytes() }
    }

    func readBytes() throws(SystemCallError) -> [UInt8] {
        var bytes = try Syscalls.preadPrefix(descriptor, count: LockRecord.size + 1)
        for _ in 0..<4 where (try? LockRecord(decoding: bytes)) == nil {
            sched_yield()
            let again = try Syscalls.preadPrefix(descriptor, count: LockRecord.size + 1)
            if again == bytes { break }
            bytes = again
        }
        return bytes
    }

    /// Reads and judges the file, given what the kernel lock says.
    ///
    /// - Parameter namingProgram: look up the holder's program name for messages
    ///   (a few reads of `/proc`: not on the hot path of a waiter).
    func judge(
        with judge: StalenessJudge, kernelLock: StalenessJudge.KernelLock, namingProgram: Bool = false
    ) throws(LockError) -> (status: LockStatus, bytes: [UInt8]) {
        try performing { () throws(SystemCallError) in
            try judgeBytes(with: judge, kernelLock: kernelLock, namingProgram: namingProgram)
        }
    }

    private func judgeBytes(
        with judge: StalenessJudge, kernelLock: StalenessJudge.KernelLock, namingProgram: Bool
    ) throws(SystemCallError) -> (status: LockStatus, bytes: [UInt8]) {
        let bytes = try readBytes()
        let now = Syscalls.wallClockNanoseconds()
        do {
            let record = try LockRecord(decoding: bytes)
            let unchanged = UnchangedSince.shared.duration(
                of: .init(file: identity, contentStamp: record.timestampNanoseconds, writer: record.writerID))
            var status = judge.judge(
                record, kernelLock: kernelLock, fileSystem: location.fileSystem,
                nowNanoseconds: now, unchangedFor: unchanged,
                birthNanoseconds: Syscalls.birthTime(descriptor))
            if namingProgram {
                status = status.describingHolder { HolderProcesses.describe($0, lockFile: identity, identity: judge.identity) }
            }
            return (status, bytes)
        } catch {
            // Read again, after the bytes: a file being written must look as young as it is.
            let current = try Syscalls.fstat(descriptor)
            let fileAge = FileIdentity.modificationAge(of: current, nowNanoseconds: now)
            let stamp =
                UInt64(bitPattern: Int64(current.st_mtim.tv_sec)) &* 1_000_000_007
                &+ UInt64(bitPattern: Int64(current.st_mtim.tv_nsec)) &+ UInt64(bitPattern: Int64(current.st_size))
            let unchanged = UnchangedSince.shared.duration(of: .init(file: identity, contentStamp: stamp, writer: nil))
            return (judge.judgeInvalid(.record(error), fileAge: fileAge, unchangedFor: unchanged, kernelLock: kernelLock), bytes)
        }
    }

    /// What ``remove(judged:)`` did.
    enum Removal: Equatable {
        /// The judged file is gone from the lock path.
        case removed
        /// The path named another file, or the bytes changed: nothing was touched.
        case changed
        /// Another file had replaced the judged one in the moment before it was moved
        /// aside (the reference takes no kernel lock); it was put back at the lock path.
        case replacedAndPutBack
        /// As ``replacedAndPutBack``, but a newer lock file had already taken the lock
        /// path, so the moved file could not be put back: it was left, intact, under
        /// `privateName` beside the lock. Its writer no longer holds the lock.
        case replacedAndLeftAside(privateName: String, record: LockRecord?)
    }

    /// Removes this file from the lock path, if the path still names it and its
    /// bytes are still `judged`. Call only while holding its exclusive kernel lock,
    /// except to break a live lock on purpose (`breakLock(force: true)`).
    ///
    /// Other RVFLock breakers are excluded by the kernel lock. The reference takes
    /// none, and may delete the judged file and create its own between this
    /// process's check and its removal; so the file is first renamed to a private
    /// name, checked to be the judged one, and only then unlinked. A file that is
    /// not the judged one is never unlinked: it is renamed back with
    /// `RENAME_NOREPLACE`, which, unlike `link()`, needs no ownership of the file
    /// (`fs.protected_hardlinks` refuses another user's file to `link()`).
    func remove(judged: [UInt8]) throws(LockError) -> Removal {
        try performing { () throws(SystemCallError) in try removeJudged(judged) }
    }

    private func removeJudged(_ judged: [UInt8]) throws(SystemCallError) -> Removal {
        guard let current = try location.lstat(), FileIdentity(current) == identity else { return .changed }
        guard try readBytes() == judged else { return .changed }
        TestingHooks.beforeRemovingJudgedFile?()
        let directory = location.directory.descriptor
        let privateName = location.temporaryName(purpose: "breaking")
        do throws(SystemCallError) {
            try location.withName { (name) throws(SystemCallError) in
                try privateName.withUnsafeBufferPointer { (moved) throws(SystemCallError) in
                    try Syscalls.renameAt(directory, name, moved.baseAddress!)
                }
            }
        } catch  where error.errno == .noSuchFileOrDirectory {
            return .changed
        }
        return try privateName.withUnsafeBufferPointer { (moved) throws(SystemCallError) -> Removal in
            let movedPath = moved.baseAddress!
            if let movedInfo = try Syscalls.lstatAt(directory, movedPath), FileIdentity(movedInfo) == identity {
                try Syscalls.unlinkAt(directory, movedPath)
                return .removed
            }
            // Not the judged file: someone replaced it in the moment between the
            // check and the rename. Put theirs back where it was.
            TestingHooks.beforePuttingBack?()
            if putBack(movedPath) { return .replacedAndPutBack }
            let record = (try? Syscalls.openAt(directory, movedPath, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK)).flatMap { descriptor in
                defer { Syscalls.close(descriptor) }
                return (try? Syscalls.preadPrefix(descriptor, count: LockRecord.size)).flatMap { try? LockRecord(decoding: $0) }
            }
            // Under a name that says what happened, and that no clean-up of orphans removes.
            let displaced = location.temporaryName(purpose: LockLocation.displacedPurpose)
            let kept =
                displaced.withUnsafeBufferPointer { displaced in
                    (try? Syscalls.renameAtNoReplace(directory, movedPath, displaced.baseAddress!)) != nil
                } ? displaced : privateName
            let keptName = String(decoding: kept.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .replacedAndLeftAside(privateName: keptName, record: record)
        }
    }

    /// Gives a file moved aside by mistake its lock name back, unless the name was
    /// taken again meanwhile; true if it is back.
    private func putBack(_ moved: UnsafePointer<CChar>) -> Bool {
        let directory = location.directory.descriptor
        return location.withName { name in
            do throws(SystemCallError) {
                try Syscalls.renameAtNoReplace(directory, moved, name)
                return true
            } catch  where error.errno.meansUnsupportedCall {
                // No RENAME_NOREPLACE on this file system: link it back where the rules allow.
                guard (try? Syscalls.linkAt(directory, moved, directory, name)) != nil else { return false }
                _ = try? Syscalls.unlinkAt(directory, moved)
                return true
            } catch {
                return false
            }
        }
    }
}
