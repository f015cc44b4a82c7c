public import SystemPackage

/// Everything that can go wrong taking, holding, or releasing a writer lock.
///
/// Each error names the lock file, the holder where one is known (pid, host,
/// age), the failing system call and its errno where there is one, and says what
/// a user can do. ``description`` is that sentence.
public struct LockError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; stable across releases, for `switch` and `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The raw value, stable for logging.
        public let rawValue: String

        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// Another writer holds the lock (try without waiting).
        public static let busy = Code("busy")
        /// Another writer still held the lock when the wait's timeout ran out.
        public static let timedOut = Code("timedOut")
        /// This process already holds the lock, through another handle: acquiring it
        /// again would wait for itself.
        public static let heldByThisProcess = Code("heldByThisProcess")
        /// The waiting task was cancelled.
        public static let cancelled = Code("cancelled")
        /// The lock file was removed or replaced while this process held it.
        public static let lockLost = Code("lockLost")
        /// Releasing found the lock file replaced by another writer's.
        public static let takenOver = Code("takenOver")
        /// The lock was not broken: its holder is alive, or cannot yet be judged gone.
        public static let notStale = Code("notStale")
        /// The lock path is a directory, a symbolic link, or another non-regular file.
        public static let notARegularFile = Code("notARegularFile")
        /// The data file path cannot have a lock (empty, or a directory).
        public static let invalidPath = Code("invalidPath")
        /// A system call failed; ``LockError/systemCall`` and ``LockError/errno`` say which and why.
        public static let systemCallFailed = Code("systemCallFailed")
        /// The file system holding the lock cannot support the protocol (no hard links,
        /// no working `flock()`); the message names the file system and what is missing.
        public static let unsupportedFileSystem = Code("unsupportedFileSystem")

        public var description: String { rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// The lock file concerned (`data.rvf.lock`).
    public let lockFile: FilePath
    /// The state of the lock file when the error arose, where it was read.
    public let status: LockStatus?
    /// The failing system call (`"linkat"`), for ``Code/systemCallFailed`` and some others.
    public let systemCall: String?
    /// The errno of the failing system call.
    public let errno: Errno?
    /// The whole message: what happened, to which file, and what to do.
    public let description: String

    /// The holder named in ``status``, where there is one.
    public var holder: LockHolder? { status?.holder }

    init(
        _ code: Code,
        lockFile: FilePath,
        status: LockStatus? = nil,
        systemCall: String? = nil,
        errno: Errno? = nil,
        message: String
    ) {
        self.code = code
        self.lockFile = lockFile
        self.status = status
        self.systemCall = systemCall
        self.errno = errno
        self.description = message
    }
}

extension LockError {
    static func busy(
        _ lockFile: FilePath, dataFile: FilePath, status: LockStatus, waited: Duration?, cannotCreate: LockError? = nil
    ) -> LockError {
        let what: String
        switch status {
        case .held(let holder), .stale(let holder, _):
            what = "\(dataFile) is locked by \(holder)"
        case .invalid(let invalid):
            what = "\(dataFile) has an unreadable lock file \(lockFile) (\(invalid))"
        case .free:
            what = "\(dataFile) was locked and unlocked repeatedly while this process tried"
        }
        let advice: String
        switch status {
        case .invalid(let invalid) where !invalid.isBreakable:
            advice = "it may be another program's lock being written; it counts as stale once unmodified for the stale threshold"
        default:
            advice = "wait, or run `rvf-lock break \(dataFile)` if that process is gone"
        }
        if let cannotCreate {
            return LockError(.busy, lockFile: lockFile, status: status, systemCall: cannotCreate.systemCall,
                             errno: cannotCreate.errno,
                             message: "\(what); \(advice); besides, this user cannot create the lock file: "
                                 + "\(cannotCreate.errno.map { "\($0)" } ?? "\(cannotCreate)")")
        }
        if let waited {
            return LockError(.timedOut, lockFile: lockFile, status: status,
                             message: "\(what); gave up after waiting \(waited.formattedSeconds) s; \(advice)")
        }
        return LockError(.busy, lockFile: lockFile, status: status, message: "\(what); \(advice)")
    }

    static func heldByThisProcess(_ lockFile: FilePath, dataFile: FilePath, status: LockStatus) -> LockError {
        LockError(.heldByThisProcess, lockFile: lockFile, status: status,
                  message: "\(dataFile) is already locked by this process (pid \(Syscalls.processID)) through another handle; "
                      + "taking it again would wait for itself: use the handle or scope you have, or release it first")
    }

    static func cancelled(_ lockFile: FilePath, status: LockStatus?) -> LockError {
        let holder = status.map { " (last seen: \($0))" } ?? ""
        return LockError(.cancelled, lockFile: lockFile, status: status,
                         message: "waiting for \(lockFile) was cancelled\(holder)")
    }

    static func lost(_ lockFile: FilePath, status: LockStatus?) -> LockError {
        let now = status.map { "; the lock file is now \($0)" } ?? ""
        return LockError(.lockLost, lockFile: lockFile, status: status,
                         message: "the lock \(lockFile) was removed or replaced while this process held it\(now); "
                             + "stop writing: another writer may be active; check what was written since the last check")
    }

    static func takenOver(_ lockFile: FilePath, status: LockStatus?) -> LockError {
        let now = status.map { ": it is now \($0)" } ?? ": the lock file is gone"
        return LockError(.takenOver, lockFile: lockFile, status: status,
                         message: "releasing \(lockFile) found it no longer ours\(now); it was left in place; "
                             + "another writer may have written at the same time, so verify the data file")
    }

    static func system(_ error: SystemCallError, lockFile: FilePath, doing action: String) -> LockError {
        let advice: String
        switch error.errno {
        case .permissionDenied, .notPermitted:
            advice = "; the directory of \(lockFile) must be writable by this user"
        case .readOnlyFileSystem:
            advice = "; the file system is read-only, so no writer can lock it here"
        case .noSuchFileOrDirectory:
            advice = "; create the directory of \(lockFile) first"
        case .notDirectory:
            advice = "; a component of the path is not a directory"
        case .noSpace:
            advice = "; free some disk space"
        default:
            advice = ""
        }
        return LockError(.systemCallFailed, lockFile: lockFile, systemCall: error.name, errno: error.errno,
                         message: "\(action) \(lockFile) failed: \(error.name): \(error.errno)\(advice)")
    }

    static func unsupportedFileSystem(
        _ lockFile: FilePath, fileSystem: String, missing: String, systemCall: String? = nil, errno: Errno? = nil
    ) -> LockError {
        let call = systemCall.map { name in " (\(name)\(errno.map { ": \($0)" } ?? ""))" } ?? ""
        return LockError(.unsupportedFileSystem, lockFile: lockFile, systemCall: systemCall, errno: errno,
                         message: "\(lockFile) is on a file system (\(fileSystem)) that cannot hold an RVF writer lock: "
                             + "\(missing)\(call); put the data file on a local file system, or run `rvf-lock selftest` "
                             + "in its directory to see what works there")
    }

    static func notARegularFile(_ lockFile: FilePath, kind: String) -> LockError {
        let invalid = InvalidLockFile(problem: .notARegularFile(kind), fileAge: .zero, isBreakable: false)
        return LockError(.notARegularFile, lockFile: lockFile, status: .invalid(invalid),
                         message: "\(lockFile) is a \(kind), not a lock file; RVFLock neither follows nor removes it; "
                             + "remove it by hand if no program uses it")
    }
}

extension Duration {
    /// Seconds with one decimal, for messages: "2.5".
    var formattedSeconds: String {
        let tenths = Int64((Double(nanoseconds) / 100_000_000).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
