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
/// - `# ...`: the parent's notes (faults), for people reading the log
enum TortureEvent: Sendable {
    case acquired(time: UInt64, key: HoldingKey, pid: Int32, waited: Bool, waitedNanoseconds: UInt64)
    case releasing(time: UInt64, key: HoldingKey)
    case lost(time: UInt64, key: HoldingKey)
    case releaseFailed(time: UInt64, key: HoldingKey, code: String)
    case acquisitionError(time: UInt64, writer: Int, code: String)
    case summary(writer: Int, tries: Int, waits: Int, busy: Int, timeouts: Int)

    static func acquiredLine(_ key: HoldingKey, pid: Int32, waited: Bool, waitedNanoseconds: UInt64, lockWriterID: String) -> String {
        "A \(Monotonic.now()) \(key) \(pid) \(waited ? "wait" : "try") \(waitedNanoseconds) \(lockWriterID)\n"
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
        default:
            return nil
        }
    }
}
