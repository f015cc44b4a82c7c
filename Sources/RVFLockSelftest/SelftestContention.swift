import RVFLock
import RVFLockCommandLine
import RVFLockSpawn
import SystemPackage

/// The contention run of `rvf-lock selftest`: worker processes take the real
/// lock of a scratch data file through the library, over and over, and log
/// each holding; a verifier then looks for two holders at once.
///
/// Two independent detectors, in the manner of the torture harness and of
/// Lucene's LockStressTest:
/// - **Intervals.** A worker logs `A` (with the monotonic clock, which every
///   process on this machine shares) after `acquire` returned and `R` before it
///   calls `release`, so [A, R] lies inside its real holding; two such intervals
///   that intersect are two real holders.
/// - **Lost updates.** Inside the lock each holder reads a counter file, pauses,
///   and writes it back plus one. Two holders at once lose an increment: the
///   counter ends lower than the number of acquisitions.
///
/// One worker abandons its lock once, half-way, by ending as a crash would
/// (logging `X`): the others must take over the lock it left, which tests that
/// the kernel frees a dead holder's `flock()` here and that the library's
/// judge and break work on this file system.
package struct ContentionRun {
    package let scratch: String
    package let processes: Int
    package let seconds: Double

    /// A run of `processes` workers for `seconds`, its files in `scratch`.
    package init(scratch: String, processes: Int, seconds: Double) {
        self.scratch = scratch
        self.processes = processes
        self.seconds = seconds
    }

    package var dataFile: String { scratch + "/data.rvf" }
    package var logFile: String { scratch + "/contention.log" }
    package var counterFile: String { scratch + "/counter" }

    static let counterDigits = 20

    package func run() throws(Interrupted) -> (SelftestCheck, ContentionSummary?) {
        let title = "contention"
        do throws(ProbeFailure) {
            let counter = try SelftestSystem.open(counterFile, flags: SelftestSystem.createExclusively)
            defer { SelftestSystem.close(counter) }
            try SelftestSystem.writeAll(counter, Array(String(repeating: "0", count: Self.counterDigits).utf8))
            SelftestSystem.close(try SelftestSystem.open(logFile, flags: SelftestSystem.createExclusively))
        } catch {
            return (.failed("contention", title, "cannot create the run's files in the scratch directory: \(error)"), nil)
        }

        let start = SelftestSystem.monotonicNanoseconds()
        let until = start + UInt64(seconds * 1e9)
        let abandonAt = start + UInt64(seconds * 1e9 / 3)
        var workers: [SelftestSystem.HelperProcess] = []
        for index in 0..<processes {
            let arguments = [
                SelftestSystem.helperCommandName, String(SelftestSystem.processID), "contend",
                dataFile, logFile, counterFile, String(until), String(index == 0 ? abandonAt : 0),
                index % 2 == 1 ? "named" : "unnamed", String(index),
            ]
            do throws(ProbeFailure) {
                workers.append(try SelftestSystem.startHelper(arguments: arguments))
            } catch {
                return (.failed("contention", title, "cannot start worker process \(index + 1): \(error)"), nil)
            }
        }

        // Generous: a worker may be mid-wait at the deadline, and the machine may be loaded.
        let patience = until + 30_000_000_000
        var hung = 0
        while workers.contains(where: { $0.reapIfEnded() == nil }) {
            if SelftestSystem.monotonicNanoseconds() > patience {
                for worker in workers where worker.reapIfEnded() == nil {
                    worker.killAndReap()
                    hung += 1
                }
                break
            }
            for worker in workers { worker.readAvailable() }
            try SelftestSystem.sleep(milliseconds: 20)
        }
        let exits = workers.map { ($0.exitStatus ?? -1, $0.remainingOutput()) }

        let log: [UInt8]
        let counterValue: UInt64?
        do throws(ProbeFailure) {
            log = try SelftestSystem.readWholeFile(logFile)
            counterValue = UInt64(String(decoding: try SelftestSystem.readWholeFile(counterFile), as: UTF8.self))
        } catch {
            return (.failed("contention", title, "cannot read back the run's log: \(error)"), nil)
        }
        let summary = ContentionVerifier(
            processes: processes, seconds: seconds, until: until,
            log: String(decoding: log, as: UTF8.self), counter: counterValue, exits: exits, hung: hung
        ).summary()
        return (summary.check, summary)
    }
}

/// What the contention run measured, and whether the lock held.
package struct ContentionSummary {
    package var processes = 0
    package var seconds = 0.0
    package var acquisitions = 0
    package var perProcess: [Int] = []
    package var overlaps = 0
    package var counter: UInt64?
    package var takenOver = 0
    /// What became of the lock process 1 abandoned, as a crash would, a third of the way in.
    package enum Abandonment: Equatable {
        /// Process 1 did not get the lock again after the first third; nothing was abandoned.
        case none
        /// Another process took it over this long after it was abandoned.
        case takenOver(nanoseconds: UInt64)
        /// Nobody took it over before the run ended.
        case notTakenOver
        /// Abandoned too close to the end for a takeover to be expected.
        case tooLate
    }
    package var abandonment = Abandonment.none
    package var problems: [String] = []
    /// A worker's acquisition failed because the file system cannot support the lock.
    var unsupported: String?

    package var check: SelftestCheck {
        let title = "contention"
        let shares = perProcess.map(String.init).joined(separator: ", ")
        var measured =
            "\(processes) processes, \(Self.format(seconds)) s: \(acquisitions) acquisitions "
            + "(per process: \(shares)), \(overlaps) overlaps, counter \(counter.map(String.init) ?? "unreadable")"
            + (counter == UInt64(acquisitions) ? " = acquisitions" : " for \(acquisitions) acquisitions")
        switch abandonment {
        case .takenOver(let nanoseconds):
            measured += "; process 1's lock, abandoned as it died, was taken over after \(Measure.milliseconds(nanoseconds)) ms"
        case .notTakenOver:
            measured += "; process 1's lock, abandoned as it died, was not taken over"
        case .tooLate:
            measured += "; process 1 abandoned its lock too close to the end to see it taken over"
        case .none:
            measured += "; process 1 did not get the lock after the first third, so abandoned none"
        }
        if let unsupported {
            var check = SelftestCheck.failed("contention", title, measured + "; the lock refused this file system: " + unsupported)
            check.unsupportedMessage = unsupported
            return check
        }
        guard problems.isEmpty else {
            return .failed(
                "contention", title,
                measured + "; " + problems.prefix(3).joined(separator: "; ")
                    + (problems.count > 3 ? "; and \(problems.count - 3) more" : ""))
        }
        return .ok("contention", title, measured)
    }

    package var json: String {
        JSON.object([
            ("processes", String(processes)),
            ("seconds", String(seconds)),
            ("acquisitions", String(acquisitions)),
            ("per_process", "[" + perProcess.map(String.init).joined(separator: ",") + "]"),
            ("overlaps", String(overlaps)),
            ("counter", counter.map { String($0) } ?? JSON.null),
            ("abandoned_lock_taken_over", abandonmentJSON),
            ("takeover_ms", takeoverMillisecondsJSON),
            ("problems", "[" + problems.map(JSON.string).joined(separator: ",") + "]"),
        ])
    }

    private var abandonmentJSON: String {
        switch abandonment {
        case .takenOver: "true"
        case .notTakenOver: "false"
        case .none, .tooLate: JSON.null
        }
    }

    private var takeoverMillisecondsJSON: String {
        guard case .takenOver(let nanoseconds) = abandonment else { return JSON.null }
        return String(Double(nanoseconds) / 1e6)
    }

    package static func format(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? String(Int(tenths / 10)) : String(tenths / 10)
    }
}

/// Judges a finished contention run from its log, its counter and how its workers ended.
package struct ContentionVerifier {
    package let processes: Int
    package let seconds: Double
    package let until: UInt64
    package let log: String
    package let counter: UInt64?
    package let exits: [(status: Int32, output: String)]
    package let hung: Int

    /// A verifier of one run: `processes` workers for `seconds`, ending at `until`
    /// (monotonic ns); the workers' `log`, the shared `counter` as read at the end,
    /// each worker's exit status and output, and how many hung.
    package init(
        processes: Int, seconds: Double, until: UInt64, log: String, counter: UInt64?,
        exits: [(status: Int32, output: String)], hung: Int
    ) {
        self.processes = processes
        self.seconds = seconds
        self.until = until
        self.log = log
        self.counter = counter
        self.exits = exits
        self.hung = hung
    }

    struct Key: Hashable { let worker: Int; let sequence: Int }

    package func summary() -> ContentionSummary {
        var summary = ContentionSummary()
        summary.processes = processes
        summary.seconds = seconds
        summary.perProcess = Array(repeating: 0, count: processes)
        summary.counter = counter

        var starts: [Key: UInt64] = [:]
        var ends: [Key: UInt64] = [:]
        var abandonment: (key: Key, time: UInt64)?
        var takeovers = 0
        var errors: [String] = []
        for line in log.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 3).map(String.init)
            guard fields.count >= 3, let worker = Int(fields[1]), (0..<processes).contains(worker) else {
                summary.problems.append("unreadable log line: \(line.prefix(80))")
                continue
            }
            if fields[0] == "E" {
                let message = fields.count > 3 ? fields[3] : ""
                switch fields[2] {
                case "unsupportedFileSystem":
                    summary.unsupported = message
                case "takenOver":
                    takeovers += 1
                default:
                    errors.append("process \(worker + 1): \(fields[2]): \(message.prefix(300))")
                }
                continue
            }
            guard fields.count == 4, let sequence = Int(fields[2]), let time = UInt64(fields[3]) else {
                summary.problems.append("unreadable log line: \(line.prefix(80))")
                continue
            }
            let key = Key(worker: worker, sequence: sequence)
            switch fields[0] {
            case "A":
                starts[key] = time
                summary.acquisitions += 1
                summary.perProcess[worker] += 1
            case "R":
                ends[key] = time
            case "X":
                ends[key] = time
                abandonment = (key, time)
            default:
                summary.problems.append("unreadable log line: \(line.prefix(80))")
            }
        }

        // Two holdings that intersect are two holders at once.
        let holdings = starts.map { key, start in (key: key, start: start, end: ends[key]) }.sorted { $0.start < $1.start }
        var latest: (key: Key, end: UInt64)?
        for holding in holdings {
            guard let end = holding.end else {
                summary.problems.append("process \(holding.key.worker + 1) acquired and never logged its release")
                continue
            }
            if let previous = latest, holding.start <= previous.end {
                summary.overlaps += 1
                if summary.overlaps <= 3 {
                    summary.problems.append(
                        "process \(holding.key.worker + 1) acquired while process \(previous.key.worker + 1) "
                            + "still held the lock (for \(Measure.milliseconds(previous.end - holding.start)) ms more)")
                }
            }
            if latest.map({ end > $0.end }) ?? true { latest = (holding.key, end) }
        }
        if summary.overlaps > 3 { summary.problems.append("\(summary.overlaps) overlapping holdings in all") }
        if takeovers > 0 {
            summary.problems.append("\(takeovers) releases found the lock file no longer their own: another process had taken it")
        }
        summary.problems += errors

        // Lost increments are overlaps the log's intervals might miss.
        if let counter, counter < UInt64(summary.acquisitions) {
            summary.problems.append(
                "the counter lost \(UInt64(summary.acquisitions) - counter) increments: "
                    + "two holders read and wrote it at once")
        } else if counter == nil {
            summary.problems.append("the counter file was unreadable")
        }

        // The abandoned lock must be taken over by another worker.
        if let abandonment {
            let next = holdings.filter { $0.key.worker != abandonment.key.worker && $0.start > abandonment.time }.map(\.start).min()
            if let next {
                summary.abandonment = .takenOver(nanoseconds: next - abandonment.time)
            } else if until > abandonment.time + 500_000_000 {
                summary.abandonment = .notTakenOver
                summary.problems.append(
                    "no process took over the lock abandoned by a dying holder within "
                        + "\(ContentionSummary.format(Double(until - abandonment.time) / 1e9)) s")
            } else {
                summary.abandonment = .tooLate
            }
        }

        if summary.acquisitions == 0 && summary.unsupported == nil {
            summary.problems.append("no process acquired the lock")
        }
        for (index, exit) in exits.enumerated() {
            switch exit.status {
            case 0:
                continue
            case ExitStatus.unavailable where summary.unsupported != nil:
                continue
            default:
                let output = exit.output.split(separator: "\n").last.map { ": \($0.prefix(200))" } ?? ""
                summary.problems.append("process \(index + 1) exited with status \(exit.status)\(output)")
            }
        }
        if hung > 0 { summary.problems.append("\(hung) processes did not end within 30 s of the deadline and were killed") }
        return summary
    }
}

/// One worker of the contention run (`rvf-lock _selftest-helper PID contend ...`).
package struct ContentionWorker {
    package let dataFile: String
    package let logFile: String
    package let counterFile: String
    package let until: UInt64
    package let abandonAt: UInt64?
    package let namedTemporaries: Bool
    package let index: Int

    /// The worker `index` of a run, as its helper process's arguments describe it.
    package init(
        dataFile: String, logFile: String, counterFile: String, until: UInt64, abandonAt: UInt64?,
        namedTemporaries: Bool, index: Int
    ) {
        self.dataFile = dataFile
        self.logFile = logFile
        self.counterFile = counterFile
        self.until = until
        self.abandonAt = abandonAt
        self.namedTemporaries = namedTemporaries
        self.index = index
    }

    /// Runs until the deadline; returns the exit status.
    package func run() -> Int32 {
        let log: FileDescriptor
        let counter: FileDescriptor
        do throws(ProbeFailure) {
            log = try SelftestSystem.open(logFile, flags: SelftestSystem.appendOnly)
            counter = try SelftestSystem.open(counterFile, flags: SelftestSystem.readWrite)
        } catch {
            StandardOutput.line("cannot open the run's files: \(error)")
            return ExitStatus.checkFailed
        }
        var options = LockOptions()
        options.usesNamedTemporaryFiles = namedTemporaries
        let lock = WriterLock(dataFile: FilePath(dataFile), options: options)
        var sequence = 0
        do throws(ProbeFailure) {
            while true {
                let now = SelftestSystem.monotonicNanoseconds()
                guard now < until else { return ExitStatus.success }
                let handle: LockHandle
                do throws(LockError) {
                    handle = try lock.acquire(timeout: .nanoseconds(Int64(until - now)))
                } catch  where error.code == .timedOut {
                    return ExitStatus.success
                } catch {
                    try SelftestSystem.appendLine(log, "E \(index) \(error.code) \(error.description)")
                    return error.code == .unsupportedFileSystem ? ExitStatus.unavailable : ExitStatus.checkFailed
                }
                sequence += 1
                try SelftestSystem.appendLine(log, "A \(index) \(sequence) \(SelftestSystem.monotonicNanoseconds())")
                try increment(counter)
                if let abandonAt, SelftestSystem.monotonicNanoseconds() >= abandonAt {
                    try SelftestSystem.appendLine(log, "X \(index) \(sequence) \(SelftestSystem.monotonicNanoseconds())")
                    SelftestSystem.vanish()
                }
                try SelftestSystem.appendLine(log, "R \(index) \(sequence) \(SelftestSystem.monotonicNanoseconds())")
                do throws(LockError) {
                    try handle.release()
                } catch {
                    try SelftestSystem.appendLine(log, "E \(index) \(error.code) \(error.description)")
                    return ExitStatus.checkFailed
                }
            }
        } catch {
            StandardOutput.line("worker \(index + 1): \(error)")
            return ExitStatus.checkFailed
        }
    }

    /// Reads the counter, pauses so that a second holder could interleave, writes it back plus one.
    private func increment(_ counter: FileDescriptor) throws(ProbeFailure) {
        let digits = try SelftestSystem.read(counter, count: ContentionRun.counterDigits)
        let value = UInt64(String(decoding: digits, as: UTF8.self)) ?? 0
        SelftestSystem.pause(microseconds: 100)
        let text = String(value + 1)
        let padded = String(repeating: "0", count: max(0, ContentionRun.counterDigits - text.count)) + text
        try SelftestSystem.writeAll(counter, Array(padded.utf8))
    }
}
