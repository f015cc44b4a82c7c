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
    /// The processes on this machine that hold the lock file's kernel lock, where the
    /// record's own process does not: its process exited while others it started (or
    /// handed the lock file to) keep the lock, as `rvf-lock exec`'s command does when
    /// `rvf-lock` is killed. Empty otherwise, and where it cannot be seen.
    public let kernelLockHolders: [HolderProcess]
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

    /// Creates a holder description; the library makes these when it reads a lock.
    init(
        record: LockRecord, age: Duration, heldFor: Duration? = nil, program: String? = nil,
        kernelLockHolders: [HolderProcess] = [], hostMatch: HostMatch, liveness: Liveness
    ) {
        self.record = record
        self.age = age
        self.heldFor = heldFor
        self.program = program
        self.kernelLockHolders = kernelLockHolders
        self.hostMatch = hostMatch
        self.liveness = liveness
    }

    /// This holder with its program, or the processes holding its kernel lock, filled in.
    func describing(program: String?, kernelLockHolders: [HolderProcess] = [], liveness: Liveness? = nil) -> LockHolder {
        LockHolder(
            record: record, age: age, heldFor: heldFor, program: program, kernelLockHolders: kernelLockHolders,
            hostMatch: hostMatch, liveness: liveness ?? self.liveness)
    }

    /// How the judge knows whether the holder lives.
    var livenessExplanation: String {
        liveness == .kernelLockHeldAfterWriterExited && !kernelLockHolders.isEmpty
            ? "alive while \(kernelLockHolders.count == 1 ? "that process holds" : "those processes hold") it"
            : liveness.explanation
    }

    /// "pid 4242 (ingest) on build-7 for 12 min", or, where the file system keeps
    /// no birth times, "pid 4242 on build-7, refreshed 3 s ago"; where other processes
    /// keep the kernel lock of a writer that exited, "pid 3000 on build-7 for 5 s, whose
    /// process has exited; its kernel lock is held by pid 3012 (sleep)".
    public var description: String {
        var text = "pid \(pid)"
        if let program { text += " (\(program))" }
        text += " on \(hostname.isEmpty ? "an unnamed host" : hostname)"
        if let heldFor {
            text += " for \(heldFor.humanReadable)"
        } else {
            text += ", refreshed \(age.humanReadable) ago"
        }
        if !kernelLockHolders.isEmpty {
            if liveness == .kernelLockHeldAfterWriterExited { text += ", whose process has exited" }
            text += "; its kernel lock is held by " + kernelLockHolders.map(\.description).joined(separator: ", ")
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
        /// The record's own process has exited, but processes holding the lock file
        /// open keep its `flock()` (see ``LockHolder/kernelLockHolders``): the lock is
        /// alive as long as they are.
        case kernelLockHeldAfterWriterExited
        /// The lock was written by RVFLock on this running kernel and nobody holds its
        /// `flock()` exclusively: the kernel proves the holder gone.
        case kernelLockReleased
        /// The process that has the record's PID is the writer itself: its PID
        /// namespace, PID and start time match the record's writer id (RVFLock records only).
        case writerProcessExists
        /// `kill(pid, 0)` found a process (or found it owned by another user) that
        /// started before the record was written; nothing says it is another process.
        case processExists
        /// A process has the record's PID, but it started after the record was written
        /// (beyond any allowance for a wall-clock step): the PID was reused, or the
        /// machine rebooted. The writer is gone.
        case processStartedLater
        /// A process has the record's PID, and it started within moments after the
        /// record's timestamp: it may be the writer under a wall clock stepped since,
        /// or a process that got the PID later. The record is judged as one from
        /// another host.
        case processStartedAroundRecord
        /// `kill(pid, 0)` found no such process.
        case noSuchProcess
        /// The PID is 0, negative or above the system's maximum: no process can have it.
        case impossiblePID
        /// The holder is on another host (or another boot of this one): its PID means nothing here.
        case unknowable

        /// True when alive, false when dead, nil when unknowable.
        public var isAlive: Bool? {
            switch self {
            case .kernelLockHeld, .kernelLockHeldAfterWriterExited, .writerProcessExists, .processExists: true
            case .kernelLockReleased, .noSuchProcess, .impossiblePID, .processStartedLater: false
            case .unknowable, .processStartedAroundRecord: nil
            }
        }
    }
}

/// A process on this machine, for messages: "pid 3012 (sleep)".
public struct HolderProcess: Hashable, Sendable, CustomStringConvertible {
    /// Its process id, in the PID namespace of the process that looked.
    public let pid: Int32
    /// Its program name (`/proc/PID/comm`), where it could be read.
    public let program: String?

    public var description: String { program.map { "pid \(pid) (\($0))" } ?? "pid \(pid)" }
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
