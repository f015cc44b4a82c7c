import RVFLock

/// One line of the shared append log. Workers write each with a single `write()`
/// on an `O_APPEND` descriptor, so lines never interleave; times are CLOCK_MONOTONIC.
///
/// Formats:
/// - `A t key pid mode waitedNs lockWriterID`: acquired (logged after acquisition returned);
///   the last field is the writer id in the lock file, to match a log line with a lock file
/// - `R t key pid`: about to release (logged before release, so [A, R] lies inside the real holding)
/// - `L t key pid`: `checkHeld()` reported the lock lost while holding; no more writes under it
/// - `X t key pid code`: `release()` threw (the lock file was no longer ours)
/// - `E t wN pid code`: acquisition failed with an error other than busy/timed out
/// - `S t wN pid tries waits busy timeouts`: summary from a worker that ended normally
/// - `C t key pid target`: a chdir worker changed directory while holding (`away`, `decoy`,
///   `root`, or `back` to the data file's directory)
/// - `O t key pid fd1 verdict`: a closed-stdout worker printed while holding; `fd1` is what
///   descriptor 1 was then (`devnull`, `closed`, `lockfile`, `other:PATH`), `verdict` what
///   a fresh read of the lock file found (`ok`: a valid 104-byte record of this holder)
/// - `J t wN pid busy|timeout status`: a worker was refused while the lock file named this
///   host by the reference's alias; `status` is what `status()` said right after
/// - `G t wN pid waitedNs`: a reference holder gave up, the lock never free
/// - `# ...`: the parent's notes (faults), for people reading the log
enum TortureEvent: Sendable {
    case acquired(time: UInt64, key: HoldingKey, pid: Int32, waited: Bool, waitedNanoseconds: UInt64)
    case releasing(time: UInt64, key: HoldingKey)
    case lost(time: UInt64, key: HoldingKey)
    case releaseFailed(time: UInt64, key: HoldingKey, code: String)
    case acquisitionError(time: UInt64, writer: Int, code: String)
    case summary(writer: Int, tries: Int, waits: Int, busy: Int, timeouts: Int)
    case changedDirectory(time: UInt64, key: HoldingKey, target: String)
    case printedWhileHolding(time: UInt64, key: HoldingKey, standardOutput: String, verdict: String)
    case refusedByAlias(time: UInt64, writer: Int, timedOut: Bool, status: String)
    case referenceGaveUp(time: UInt64, writer: Int, waitedNanoseconds: UInt64)

    static func acquiredLine(_ key: HoldingKey, pid: Int32, waited: Bool, waitedNanoseconds: UInt64, lockWriterID: String) -> String {
        "A \(Syscalls.monotonicNanoseconds()) \(key) \(pid) \(waited ? "wait" : "try") \(waitedNanoseconds) \(lockWriterID)\n"
    }

    /// Parses one line; nil for the parent's notes and anything unrecognised.
    init?(line: Substring) {
        let fields = line.split(separator: " ")
        guard fields.count >= 3, let time = UInt64(fields[1]) else { return nil }
        func writerIndex(_ field: Substring) -> Int? { field.first == "w" ? Int(field.dropFirst()) : nil }
        switch fields[0] {
        case "A":
            guard fields.count == 7, let key = HoldingKey(fields[2]), let pid = Int32(fields[3]), let waited = UInt64(fields[5])
            else { return nil }
            self = .acquired(time: time, key: key, pid: pid, waited: fields[4] == "wait", waitedNanoseconds: waited)
        case "R":
            guard let key = HoldingKey(fields[2]) else { return nil }
            self = .releasing(time: time, key: key)
        case "L":
            guard let key = HoldingKey(fields[2]) else { return nil }
            self = .lost(time: time, key: key)
        case "X":
            guard fields.count == 5, let key = HoldingKey(fields[2]) else { return nil }
            self = .releaseFailed(time: time, key: key, code: String(fields[4]))
        case "E":
            guard fields.count == 5, let writer = writerIndex(fields[2]) else { return nil }
            self = .acquisitionError(time: time, writer: writer, code: String(fields[4]))
        case "S":
            guard fields.count == 8, let writer = writerIndex(fields[2]) else { return nil }
            let counts = fields[4...].compactMap { Int($0) }
            guard counts.count == 4 else { return nil }
            self = .summary(writer: writer, tries: counts[0], waits: counts[1], busy: counts[2], timeouts: counts[3])
        case "C":
            guard fields.count == 5, let key = HoldingKey(fields[2]) else { return nil }
            self = .changedDirectory(time: time, key: key, target: String(fields[4]))
        case "O":
            guard fields.count == 6, let key = HoldingKey(fields[2]) else { return nil }
            self = .printedWhileHolding(time: time, key: key, standardOutput: String(fields[4]), verdict: String(fields[5]))
        case "J":
            guard fields.count == 6, let writer = writerIndex(fields[2]) else { return nil }
            self = .refusedByAlias(time: time, writer: writer, timedOut: fields[4] == "timeout", status: String(fields[5]))
        case "G":
            guard fields.count == 5, let writer = writerIndex(fields[2]), let waited = UInt64(fields[4]) else { return nil }
            self = .referenceGaveUp(time: time, writer: writer, waitedNanoseconds: waited)
        default:
            return nil
        }
    }
}
