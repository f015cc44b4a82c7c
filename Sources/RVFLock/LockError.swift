public import SystemPackage

/// Everything that can go wrong taking, holding, or releasing a writer lock.
///
/// Each error names the lock file, the holder where one is known (pid, host,
/// age), the failing system call and its errno where there is one, and says what
/// a user can do. ``description`` is that sentence.
///
/// ## Catching one kind of failure
///
/// Match the code in a `catch` clause: `LockError.lockLost` (and each other
/// code, as a static property of `LockError`) matches a `LockError` of that
/// code, whether the error is typed or `any Error`:
///
/// ```swift
/// do {
///     try lock.withLock(timeout: .seconds(10)) { scope in
///         try appendRecords(to: "data.rvf")
///     }
/// } catch LockError.timedOut {
///     print("data.rvf is busy; try again later")
/// } catch let error as LockError where error.code == .lockLost {
///     print("lost the lock: \(error)")   // the error itself, bound
/// }
/// ```
///
/// Where the thrown type is `LockError` (`do throws(LockError)`, or a call of
/// ``WriterLock/tryAcquire()``), `catch .busy` works too. In a `switch`,
/// match ``code``: `switch error.code { case .busy: ... }`.
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
        /// The caller already holds the lock: the task is inside its own `withLock`
        /// body for it, or the task (or, for blocking calls, the thread) took it
        /// through a handle it still holds. Acquiring it again would wait for
        /// itself. (Other threads and tasks of the process wait for their turn.)
        public static let heldByThisProcess = Code("heldByThisProcess")
        /// This process was forked (without `exec`) from the process that holds the
        /// lock, and used that process's handle: only the process that took a lock
        /// may release or check it.
        public static let heldByParentProcess = Code("heldByParentProcess")
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
        /// The data file path cannot have a lock: empty, a directory, or (unless
        /// ``LockOptions/allowsLockSuffix`` says it really is a data file) a name
        /// ending in `.lock`, which is nearly always a lock file given by mistake.
        public static let invalidPath = Code("invalidPath")
        /// The ``LockOptions`` cannot work: a threshold of zero or less, or an interval
        /// too short to be anything but a busy loop. Nothing was read or written.
        public static let invalidOptions = Code("invalidOptions")
        /// A system call failed; ``LockError/systemCall`` and ``LockError/errno`` say which and why.
        public static let systemCallFailed = Code("systemCallFailed")
        /// The file system holding the lock cannot support the protocol (no hard links,
        /// no working `flock()`); the message names the file system and what is missing.
        public static let unsupportedFileSystem = Code("unsupportedFileSystem")

        /// The raw value.
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
    /// What happened, without the advice: the part of ``description`` that
    /// `rvf-lock` keeps when it gives its own advice in its own words.
    let situation: String

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
        self.situation = message
    }

    /// An error whose message is `situation` followed by `advice`.
    init(_ code: Code, lockFile: FilePath, status: LockStatus?, situation: String, advice: String) {
        self.code = code
        self.lockFile = lockFile
        self.status = status
        self.systemCall = nil
        self.errno = nil
        self.description = "\(situation); \(advice)"
        self.situation = situation
    }
}

extension LockError {
    /// What happened, without the library's advice, for a tool that words its
    /// own (`rvf-lock break --force FILE` instead of `breakLock(force: true)`).
    package var situationWithoutAdvice: String { situation }
}

// The codes as static properties of `LockError`, so that `catch LockError.lockLost`
// reads as the failure it catches (as `catch CocoaError.fileNoSuchFile` does).
extension LockError {
    /// Matches a ``LockError`` whose code is ``Code/busy``: `catch LockError.busy`.
    public static var busy: Code { .busy }
    /// Matches a ``LockError`` whose code is ``Code/timedOut``: `catch LockError.timedOut`.
    public static var timedOut: Code { .timedOut }
    /// Matches a ``LockError`` whose code is ``Code/heldByParentProcess``: `catch LockError.heldByParentProcess`.
    public static var heldByParentProcess: Code { .heldByParentProcess }
    /// Matches a ``LockError`` whose code is ``Code/heldByThisProcess``: `catch LockError.heldByThisProcess`.
    public static var heldByThisProcess: Code { .heldByThisProcess }
    /// Matches a ``LockError`` whose code is ``Code/cancelled``: `catch LockError.cancelled`.
    public static var cancelled: Code { .cancelled }
    /// Matches a ``LockError`` whose code is ``Code/lockLost``: `catch LockError.lockLost`.
    public static var lockLost: Code { .lockLost }
    /// Matches a ``LockError`` whose code is ``Code/takenOver``: `catch LockError.takenOver`.
    public static var takenOver: Code { .takenOver }
    /// Matches a ``LockError`` whose code is ``Code/notStale``: `catch LockError.notStale`.
    public static var notStale: Code { .notStale }
    /// Matches a ``LockError`` whose code is ``Code/notARegularFile``: `catch LockError.notARegularFile`.
    public static var notARegularFile: Code { .notARegularFile }
    /// Matches a ``LockError`` whose code is ``Code/invalidPath``: `catch LockError.invalidPath`.
    public static var invalidPath: Code { .invalidPath }
    /// Matches a ``LockError`` whose code is ``Code/invalidOptions``: `catch LockError.invalidOptions`.
    public static var invalidOptions: Code { .invalidOptions }
    /// Matches a ``LockError`` whose code is ``Code/systemCallFailed``: `catch LockError.systemCallFailed`.
    public static var systemCallFailed: Code { .systemCallFailed }
    /// Matches a ``LockError`` whose code is ``Code/unsupportedFileSystem``: `catch LockError.unsupportedFileSystem`.
    public static var unsupportedFileSystem: Code { .unsupportedFileSystem }
}

extension LockError.Code {
    /// Whether `error` is a ``LockError`` with this code: makes `catch LockError.busy`
    /// (or `case LockError.busy`) match any error.
    public static func ~= (code: LockError.Code, error: any Error) -> Bool {
        (error as? LockError)?.code == code
    }

    /// Whether `error` has this code: makes `catch .busy` match in a
    /// `do throws(LockError)` block.
    public static func ~= (code: LockError.Code, error: LockError) -> Bool {
        error.code == code
    }
}

extension LockError {
    /// - Parameter byThisProcess: another thread or task of this process holds the
    ///   lock, or is ahead in this process's line for it.
    static func busy(
        _ lockFile: FilePath, dataFile: FilePath, status: LockStatus, waited: Duration?, cannotCreate: LockError? = nil,
        byThisProcess: Bool = false
    ) -> LockError {
        let what: String
        switch status {
        case _ where byThisProcess:
            what =
                "\(dataFile) is locked by another thread or task of this process (pid \(Syscalls.processID)), "
                + "or one is ahead in line for it"
            let advice = "wait for it to release the lock (acquire with a timeout, or withLock, waits its turn)"
            if let waited {
                return LockError(
                    .timedOut, lockFile: lockFile, status: status,
                    situation: "\(what); gave up after waiting \(waited.formattedSeconds) s", advice: advice)
            }
            return LockError(.busy, lockFile: lockFile, status: status, situation: what, advice: advice)
        case .held(let holder), .stale(let holder, _):
            what = "\(dataFile) is locked by \(holder)"
        case .invalid(let invalid):
            what = "\(dataFile) has an unreadable lock file \(lockFile) (\(invalid))"
        case .free:
            what = "\(dataFile) was locked and unlocked repeatedly while this process tried"
        }
        if let cannotCreate {
            return LockError(
                .busy, lockFile: lockFile, status: status,
                situation: "\(what); this user also cannot create the lock file "
                    + "(\(cannotCreate.errno.map { "\($0)" } ?? "\(cannotCreate)"))",
                advice: busyAdvice(status))
        }
        if let waited {
            return LockError(
                .timedOut, lockFile: lockFile, status: status,
                situation: "\(what); gave up after waiting \(waited.formattedSeconds) s", advice: busyAdvice(status))
        }
        return LockError(.busy, lockFile: lockFile, status: status, situation: what, advice: busyAdvice(status))
    }

    /// What a caller who cannot have the lock can do, by what is known of the holder:
    /// breaking is suggested only where the holder may be gone.
    private static func busyAdvice(_ status: LockStatus) -> String {
        switch status {
        case .held(let holder):
            switch holder.isAlive {
            case true? where holder.liveness == .kernelLockHeldAfterWriterExited:
                "the processes that keep its kernel lock are alive; wait for them to finish, or stop them"
            case true?:
                "that writer is alive; wait for it to finish"
            case nil:
                "whether that writer is alive cannot be seen from here; wait (its lock turns stale once not refreshed "
                    + "for the other-host threshold), or call breakLock(force: true) if you know that host is down"
            case false?:
                "its process is gone, and the lock turns stale once older than the stale threshold; "
                    + "call breakLock(force: true) to remove it now"
            }
        case .stale:
            "it is stale; the next attempt removes it"
        case .invalid(let invalid) where invalid.isBreakable:
            "it is old enough to remove; the next attempt, or breakLock(), removes it"
        case .invalid:
            "it may be another program's lock being written, or one held with flock(); it counts as stale once "
                + "unmodified for the stale threshold while no process holds its kernel lock"
        case .free:
            "try again"
        }
    }

    /// `breakLock()` refused: the lock is not stale.
    static func notStale(_ lockFile: FilePath, status: LockStatus) -> LockError {
        let advice: String
        switch status {
        case .held(let holder) where holder.isAlive == true:
            advice = "its writer is alive; wait for it to finish"
        case .held(let holder) where holder.isAlive == nil:
            advice = "wait for it, or call breakLock(force: true) only if you are sure that host is down"
        case .held:
            advice =
                "its process is gone, and the lock turns stale once older than the stale threshold; "
                + "breakLock(force: true) removes it now"
        case .invalid:
            advice =
                "it may be another program's lock being written, or one held with flock(); it can be broken once "
                + "unmodified for the stale threshold while no process holds its kernel lock, "
                + "or with breakLock(force: true) if you are sure no program is writing it"
        case .free, .stale:
            advice = "try again"
        }
        return LockError(
            .notStale, lockFile: lockFile, status: status,
            situation: "refusing to break \(lockFile): it is \(status)", advice: advice)
    }

    /// - Parameter how: who in this process holds it: the task inside its `withLock`
    ///   body, a task or thread through a handle it took.
    static func heldByThisProcess(
        _ lockFile: FilePath, dataFile: FilePath, status: LockStatus,
        how: String = "another handle of this process holds it"
    ) -> LockError {
        LockError(
            .heldByThisProcess, lockFile: lockFile, status: status,
            message: "\(dataFile) is already locked by this process (pid \(Syscalls.processID)): \(how); "
                + "taking it again would wait for itself: use the handle or scope you have, or release it first")
    }

    static func cancelled(_ lockFile: FilePath, status: LockStatus?) -> LockError {
        let holder = status.map { " (last seen: \($0))" } ?? ""
        return LockError(
            .cancelled, lockFile: lockFile, status: status,
            message: "waiting for \(lockFile) was cancelled\(holder)")
    }

    static func lost(_ lockFile: FilePath, status: LockStatus?) -> LockError {
        let now = status.map { "; the lock file is now \($0)" } ?? ""
        return LockError(
            .lockLost, lockFile: lockFile, status: status,
            message: "the lock \(lockFile) was removed or replaced while this process held it\(now); "
                + "stop writing: another writer may be active; check what was written since the last check")
    }

    static func takenOver(_ lockFile: FilePath, status: LockStatus?) -> LockError {
        let now = status.map { ": it is now \($0)" } ?? ": the lock file is gone"
        return LockError(
            .takenOver, lockFile: lockFile, status: status,
            message: "releasing \(lockFile) found it no longer ours\(now); it was left in place; "
                + "another writer may have written at the same time, so verify the data file")
    }

    static func system(_ error: SystemCallError, lockFile: FilePath, doing action: String) -> LockError {
        // Creating and removing need write permission on the directory; everything
        // else (opening it, reading or judging the lock file) needs only search permission.
        let changesDirectory = action == "creating" || action == "removing the lock file" || action == "breaking"
        let advice: String
        switch error.errno {
        case .permissionDenied where changesDirectory, .notPermitted where changesDirectory:
            advice = "; the directory of \(lockFile) must be writable by this user"
        case .permissionDenied, .notPermitted:
            advice =
                "; this user needs search permission (x) on every directory on the way to \(lockFile), "
                + "and read permission on the lock file"
        case .readOnlyFileSystem:
            advice = "; the file system is read-only, so no writer can lock it here"
        case .noSuchFileOrDirectory where action == "opening the directory of":
            advice = "; create the directory of \(lockFile) first"
        case .noSuchFileOrDirectory where action == "creating":
            // The directory is open (every operation starts by opening it), so it exists:
            // its file system refuses new files, as /proc and /sys do.
            advice =
                "; its directory exists but its file system does not let files be created there "
                + "(as /proc and /sys do not); put the data file on an ordinary file system"
        case .notDirectory:
            advice = "; a component of the path is not a directory"
        case .noSpace:
            advice = "; free some disk space"
        default:
            advice = ""
        }
        return LockError(
            .systemCallFailed, lockFile: lockFile, systemCall: error.name, errno: error.errno,
            message: "\(action) \(lockFile) failed: \(error.name): \(error.errno)\(advice)")
    }

    /// A breaker moved aside a lock file that another writer had put in place of the
    /// stale one in that very moment, and could not put it back: a newer lock had
    /// taken the lock path meanwhile (see `OpenLockFile.remove(judged:)`).
    static func displaced(_ lockFile: FilePath, privateName: String, record: LockRecord?) -> LockError {
        let writer = record.map { "pid \($0.pid) on \($0.hostname.isEmpty ? "an unnamed host" : $0.hostname)" } ?? "another program"
        let directory = lockFile.removingLastComponent()
        let kept = directory.isEmpty ? privateName : directory.appending(privateName).string
        return LockError(
            .busy, lockFile: lockFile,
            message: "while \(lockFile) was being broken, \(writer) replaced the stale lock with its own, and another "
                + "writer then took the lock before that file could be put back; the file of \(writer) is kept, "
                + "intact, as \(kept): that writer may still be writing without holding the lock; stop it, check "
                + "the data file, then remove \(kept)")
    }

    /// No thread or monitor could be started for a wait or a held lock's heartbeat.
    static func noThread(_ error: SystemCallError, lockFile: FilePath) -> LockError {
        let advice =
            error.errno == .resourceTemporarilyUnavailable
            ? "this process (or its control group) is at its limit of threads or processes (RLIMIT_NPROC, pids.max); "
                + "the lock was not taken; end some threads or raise the limit"
            : "the lock was not taken"
        return LockError(
            .systemCallFailed, lockFile: lockFile, systemCall: error.name, errno: error.errno,
            message: "cannot start the thread that waits for or keeps the lock \(lockFile) "
                + "(\(error.name): \(error.errno)); \(advice)")
    }

    static func unsupportedFileSystem(
        _ lockFile: FilePath, fileSystem: String, missing: String, systemCall: String? = nil, errno: Errno? = nil
    ) -> LockError {
        let call = systemCall.map { name in " (\(name)\(errno.map { ": \($0)" } ?? ""))" } ?? ""
        return LockError(
            .unsupportedFileSystem, lockFile: lockFile, systemCall: systemCall, errno: errno,
            message: "\(lockFile) is on a file system (\(fileSystem)) that cannot hold an RVF writer lock: "
                + "\(missing)\(call); put the data file on a local file system, or run `rvf-lock selftest` "
                + "in its directory to see what works there")
    }

    static func notARegularFile(_ lockFile: FilePath, kind: String) -> LockError {
        let invalid = InvalidLockFile(problem: .notARegularFile(kind), fileAge: .zero, isBreakable: false)
        return LockError(
            .notARegularFile, lockFile: lockFile, status: .invalid(invalid),
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
