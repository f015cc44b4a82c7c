/// The state of a lock file, as read without taking the lock.
public enum LockStatus: Hashable, Sendable, CustomStringConvertible {
    /// No lock file: the next writer gets the lock at once.
    case free
    /// A live holder, or one that cannot yet be judged gone.
    case held(LockHolder)
    /// The holder is gone (or too old to trust); the next writer removes the lock.
    case stale(LockHolder, StaleReason)
    /// The lock file does not hold a valid record, or is not a regular file.
    case invalid(InvalidLockFile)

    /// The holder described by the record, for ``held(_:)`` and ``stale(_:_:)``.
    public var holder: LockHolder? {
        switch self {
        case .held(let holder), .stale(let holder, _): holder
        case .free, .invalid: nil
        }
    }

    /// This status with the holder described further by `describe` (its program, the
    /// processes that hold its kernel lock).
    func describingHolder(_ describe: (LockHolder) -> LockHolder) -> LockStatus {
        switch self {
        case .held(let holder): .held(describe(holder))
        case .stale(let holder, let reason): .stale(describe(holder), reason)
        case .free, .invalid: self
        }
    }

    /// Whether a writer may remove this lock file under the protocol's rules.
    public var isBreakable: Bool {
        switch self {
        case .free, .held: false
        case .stale: true
        case .invalid(let invalid): invalid.isBreakable
        }
    }

    /// One line for people: "held by pid 4242 on build-7 for 12 s (alive: process exists)".
    public var description: String {
        switch self {
        case .free:
            "free"
        case .held(let holder):
            "held by \(holder) (\(holder.livenessExplanation))"
        case .stale(let holder, let reason):
            "stale: held by \(holder), \(reason)"
        case .invalid(let invalid):
            "invalid: \(invalid)"
        }
    }
}

/// Why a lock counts as stale.
public enum StaleReason: Hashable, Sendable, CustomStringConvertible {
    /// Written by RVFLock on this running kernel and nobody holds its `flock()`:
    /// the holder has exited or crashed.
    case holderGone
    /// Same host, the process is gone, and the record is older than the threshold.
    case processGoneAndOlderThan(Duration)
    /// Same host, the record's PID names a process that started after the record was
    /// written (the PID was reused, or the machine rebooted), and the record is
    /// older than the threshold.
    case processReplacedAndOlderThan(Duration)
    /// Another host, and the record is older than the threshold: no heartbeat for that long.
    case otherHostOlderThan(Duration)

    public var description: String {
        switch self {
        case .holderGone:
            "its process has exited (the kernel holds no lock for it)"
        case .processGoneAndOlderThan(let threshold):
            "its process is gone and the lock is older than \(threshold.roundedSeconds) s"
        case .processReplacedAndOlderThan(let threshold):
            "its pid now names a process that started after the lock was written, and the lock is older than "
                + "\(threshold.roundedSeconds) s"
        case .otherHostOlderThan(let threshold):
            "it is from another host and not refreshed for over \(threshold.roundedSeconds) s"
        }
    }
}

/// A lock file that cannot be read as a lock record.
public struct InvalidLockFile: Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the file.
    public enum Problem: Hashable, Sendable, CustomStringConvertible {
        /// The bytes are not a valid record.
        case record(LockRecord.DecodingFailure)
        /// The lock path names a directory, a symbolic link, or another non-regular file.
        /// RVFLock never opens lock files through symbolic links and never removes these.
        case notARegularFile(String)

        public var description: String {
            switch self {
            case .record(let failure): "\(failure)"
            case .notARegularFile(let kind): "the lock path is a \(kind), not a regular file"
            }
        }
    }

    /// What is wrong with the file.
    public let problem: Problem
    /// Time since the file was last modified, by its modification time; never negative.
    public let fileAge: Duration
    /// Whether the file is old enough, and unlocked, to be removed: until then it may be
    /// another implementation's lock being written.
    public let isBreakable: Bool

    /// Creates a description of an invalid lock file; the library makes these when it reads a lock.
    init(problem: Problem, fileAge: Duration, isBreakable: Bool) {
        self.problem = problem
        self.fileAge = fileAge
        self.isBreakable = isBreakable
    }

    public var description: String {
        let age = "last modified \(fileAge.roundedSeconds) s ago"
        switch problem {
        case .notARegularFile: return "\(problem)"
        case .record: return "\(problem); \(age)\(isBreakable ? ", old enough to remove" : "")"
        }
    }
}

extension LockHolder.Liveness {
    /// How the judgement was reached, for messages.
    public var explanation: String {
        switch self {
        case .kernelLockHeld: "alive: its kernel lock on the file is held"
        case .kernelLockHeldAfterWriterExited: "alive: its process has exited, but processes it started hold its kernel lock"
        case .kernelLockReleased: "gone: written by RVFLock on this machine, and no process holds its kernel lock"
        case .writerProcessExists: "alive: its process exists"
        case .processExists: "alive: the process exists"
        case .processStartedLater: "gone: its pid now names a process that started after the lock was written"
        case .processStartedAroundRecord:
            "liveness unknown: its pid names a process that started about when the lock was written, "
                + "judged as a lock from another host"
        case .noSuchProcess: "gone: no such process"
        case .impossiblePID: "gone: the pid cannot belong to a process"
        case .unknowable: "liveness unknown: another host"
        }
    }
}
