/// What is known about the process that holds (or held) a lock.
public struct LockHolder: Hashable, Sendable, CustomStringConvertible {
    /// The record read from the lock file.
    public let record: LockRecord
    /// Time since the record's timestamp, when it was read: since the holder took
    /// the lock or last refreshed it (its heartbeat), whichever was later. Never
    /// negative. The staleness rules use it, not ``heldFor``.
    public let age: Duration
    /// How long the lock has been held: since the lock file was created, by its
    /// birth time. Nil where the file system does not record birth times.
    public let heldFor: Duration?
    /// The holder's program name (`/proc/PID/comm`), for a holder on this machine
    /// whose process could be found; nil otherwise.
    public let program: String?
    /// How the record's hostname relates to this machine.
    public let hostMatch: HostMatch
    /// What the judge learned about the holder's liveness, and how.
    public let liveness: Liveness

    /// The process id written in the record.
    public var pid: UInt32 { record.pid }
    /// The hostname written in the record.
    public var hostname: String { record.hostname }
    /// The writer id written in the record.
    public var writerID: WriterID { record.writerID }
    /// Whether the record's hostname names this machine (``HostMatch/thisHost``
    /// or ``HostMatch/alias``).
    public var isSameHost: Bool { hostMatch != .otherHost }
    /// True when the holder is known alive, false when known dead, nil when it cannot be known from here.
    public var isAlive: Bool? { liveness.isAlive }
    /// Time since the holder last wrote its record: the same as ``age``.
    public var sinceRefresh: Duration { age }

    /// Creates a holder description; the library makes these when it reads a lock.
    public init(
        record: LockRecord, age: Duration, heldFor: Duration? = nil, program: String? = nil,
        hostMatch: HostMatch, liveness: Liveness
    ) {
        self.record = record
        self.age = age
        self.heldFor = heldFor
        self.program = program
        self.hostMatch = hostMatch
        self.liveness = liveness
    }

    /// Creates a holder description with the record's host judged only as this host or another.
    public init(record: LockRecord, age: Duration, isSameHost: Bool, liveness: Liveness) {
        self.init(record: record, age: age, hostMatch: isSameHost ? .thisHost : .otherHost, liveness: liveness)
    }

    /// This holder with its program name filled in.
    func naming(program: String?) -> LockHolder {
        LockHolder(record: record, age: age, heldFor: heldFor, program: program, hostMatch: hostMatch, liveness: liveness)
    }

    /// "pid 4242 (ingest) on build-7 for 12 min", or, where the file system keeps
    /// no birth times, "pid 4242 on build-7, refreshed 3 s ago".
    public var description: String {
        var text = "pid \(pid)"
        if let program { text += " (\(program))" }
        text += " on \(hostname.isEmpty ? "an unnamed host" : hostname)"
        if let heldFor {
            text += " for \(heldFor.humanReadable)"
        } else {
            text += ", refreshed \(age.humanReadable) ago"
        }
        return text
    }

    /// How a record's hostname relates to this machine.
    public enum HostMatch: String, Hashable, Sendable {
        /// The hostname is this machine's `gethostname()` (or the reference's
        /// 62-byte cut of it).
        case thisHost
        /// The hostname is another name this machine goes by (`$HOSTNAME`,
        /// `/etc/hostname`), as the reference writes it. The PID is probed, and a
        /// live process keeps the lock; a dead one makes the lock stale only as late
        /// as a lock from another host, since a machine elsewhere may use that name.
        case alias
        /// Another machine: the PID means nothing here.
        case otherHost
    }

    /// How a judge decided whether a holder is alive.
    public enum Liveness: String, Hashable, Sendable {
        /// Some process holds `flock()` on the lock file exclusively: the kernel
        /// proves the holder alive.
        case kernelLockHeld
        /// The lock was written by RVFLock on this running kernel and nobody holds its
        /// `flock()` exclusively: the kernel proves the holder gone.
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

    /// "0.4 s", "12 s", "12 min", "3 h 5 min", "2 d 4 h": precise for short times,
    /// coarse for long ones.
    var humanReadable: String {
        let seconds = components.seconds
        switch seconds {
        case ..<0: return "0 s"
        case ..<10:
            let tenths = Int64((Double(nanoseconds) / 100_000_000).rounded(.down))
            return tenths % 10 == 0 ? "\(tenths / 10) s" : "\(tenths / 10).\(tenths % 10) s"
        case ..<120: return "\(seconds) s"
        case ..<7200: return "\(seconds / 60) min"
        case ..<172_800: return seconds % 3600 / 60 == 0 ? "\(seconds / 3600) h" : "\(seconds / 3600) h \(seconds % 3600 / 60) min"
        default: return seconds % 86400 / 3600 == 0 ? "\(seconds / 86400) d" : "\(seconds / 86400) d \(seconds % 86400 / 3600) h"
        }
    }

    /// Nanoseconds, saturating at zero, for arithmetic with record timestamps.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? UInt64.max : UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Milliseconds for `poll(2)`, rounded up and clamped to what it accepts.
    var pollMilliseconds: Int32 {
        let nanos = nanoseconds
        return Int32(clamping: nanos / 1_000_000 + (nanos % 1_000_000 == 0 ? 0 : 1))
    }
}
