import RVFLock
import RVFLockCommandLine

/// One FILE's lock state, as `status` prints it: a line for people or a JSON object.
struct LockReport {
    let file: String
    let lock: String
    /// "free", "held", "stale", "invalid", or "error" when FILE could not be examined.
    let state: String
    var pid: UInt32?
    var hostname: String?
    var timestampNanoseconds: UInt64?
    var ageSeconds: Double?
    var writerID: String?
    var sameHost: Bool?
    var pidAlive: Bool?
    var reason: String?
    /// What `status` exits with for this FILE; the worst of all FILEs wins.
    let exitStatus: Int32
    private let summary: String

    init(file: String, lock: String, status: LockStatus) {
        self.file = file
        self.lock = lock
        summary = status.description
        switch status {
        case .free:
            state = "free"
            exitStatus = ExitStatus.success
        case .held(let holder):
            state = "held"
            exitStatus = ExitStatus.lockHeld
            describe(holder)
        case .stale(let holder, let why):
            state = "stale"
            exitStatus = ExitStatus.lockStaleOrInvalid
            describe(holder)
            reason = why.description
        case .invalid(let invalid):
            state = "invalid"
            exitStatus = ExitStatus.lockStaleOrInvalid
            reason = invalid.description
            if case .record = invalid.problem { ageSeconds = Self.seconds(invalid.fileAge) }
        }
    }

    init(file: String, lock: String, failure: CommandFailure) {
        self.file = file
        self.lock = lock
        state = "error"
        exitStatus = failure.exitStatus
        reason = failure.message
        summary = "error: \(failure.message)"
    }

    private mutating func describe(_ holder: LockHolder) {
        pid = holder.pid
        hostname = holder.hostname
        timestampNanoseconds = holder.record.timestampNanoseconds
        ageSeconds = Self.seconds(holder.age)
        writerID = holder.writerID.description
        sameHost = holder.isSameHost
        pidAlive = holder.isAlive
    }

    /// Seconds to the millisecond.
    private static func seconds(_ duration: Duration) -> Double {
        let (whole, fraction) = duration.components
        return Double(whole) + Double(fraction / 1_000_000_000_000_000) / 1000
    }

    /// "data.rvf.lock: held by pid 4242 on build-7 for 12 s (alive: ...); writer 0f3a..."
    var line: String {
        var text = "\(lock): \(summary)"
        if let writerID { text += "; writer \(writerID)" }
        if let sameHost { text += sameHost ? "; this host" : "; another host" }
        return text
    }

    /// One JSON object, every field present (null where it does not apply), in the documented order.
    var json: String {
        let fields: [(String, String)] = [
            ("file", JSON.string(file)),
            ("lock", JSON.string(lock)),
            ("state", JSON.string(state)),
            ("pid", pid.map { String($0) } ?? JSON.null),
            ("hostname", hostname.map(JSON.string) ?? JSON.null),
            ("timestamp_ns", timestampNanoseconds.map { String($0) } ?? JSON.null),
            ("age_seconds", ageSeconds.map { "\($0)" } ?? JSON.null),
            ("writer_id", writerID.map(JSON.string) ?? JSON.null),
            ("same_host", sameHost.map { String($0) } ?? JSON.null),
            ("pid_alive", pidAlive.map { String($0) } ?? JSON.null),
            ("reason", reason.map(JSON.string) ?? JSON.null),
        ]
        return "{" + fields.map { "\(JSON.string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }
}
