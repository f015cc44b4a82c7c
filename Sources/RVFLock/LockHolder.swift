/// What is known about the process that holds (or held) a lock.
public struct LockHolder: Hashable, Sendable, CustomStringConvertible {
    /// The record read from the lock file.
    public let record: LockRecord
    /// The record's age when it was read: wall-clock now minus its timestamp, never negative.
    public let age: Duration
    /// Whether the record's hostname is this machine's hostname.
    public let isSameHost: Bool
    /// What the judge learned about the holder's liveness, and how.
    public let liveness: Liveness

    /// The process id written in the record.
    public var pid: UInt32 { record.pid }
    /// The hostname written in the record.
    public var hostname: String { record.hostname }
    /// The writer id written in the record.
    public var writerID: WriterID { record.writerID }
    /// True when the holder is known alive, false when known dead, nil when it cannot be known from here.
    public var isAlive: Bool? { liveness.isAlive }

    /// Creates a holder description; the library makes these when it reads a lock.
    public init(record: LockRecord, age: Duration, isSameHost: Bool, liveness: Liveness) {
        self.record = record
        self.age = age
        self.isSameHost = isSameHost
        self.liveness = liveness
    }

    /// "pid 4242 on build-7 for 12 s".
    public var description: String {
        "pid \(pid) on \(hostname.isEmpty ? "an unnamed host" : hostname) for \(age.roundedSeconds) s"
    }

    /// How a judge decided whether a holder is alive.
    public enum Liveness: String, Hashable, Sendable {
        /// Some process holds `flock()` on the lock file: the kernel proves the holder alive.
        case kernelLockHeld
        /// The lock was written by RVFLock on this running kernel and nobody holds its
        /// `flock()`: the kernel proves the holder gone.
        case kernelLockReleased
        /// `kill(pid, 0)` found the process (or found it owned by another user).
        case processExists
        /// `kill(pid, 0)` found no such process.
        case noSuchProcess
        /// The PID is 0, negative or above the system's maximum: no process can have it.
        case impossiblePID
        /// The holder is on another host (or another boot of this one): its PID means nothing here.
        case unknowable

        /// True when alive, false when dead, nil when unknowable.
        public var isAlive: Bool? {
            switch self {
            case .kernelLockHeld, .processExists: true
            case .kernelLockReleased, .noSuchProcess, .impossiblePID: false
            case .unknowable: nil
            }
        }
    }
}

extension Duration {
    /// Whole seconds, rounded down, for messages.
    var roundedSeconds: Int64 { components.seconds }

    /// Nanoseconds, saturating at zero, for arithmetic with record timestamps.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Milliseconds for `poll(2)`, rounded up and clamped to what it accepts.
    var pollMilliseconds: Int32 {
        let nanos = nanoseconds
        return Int32(clamping: (nanos + 999_999) / 1_000_000)
    }
}
