import Foundation

/// What a torture run did and saw; printed as a table and written as JSON with `--json`.
struct TortureReport: Codable, Sendable {
    struct Percentiles: Codable, Sendable {
        var count: Int
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        var maxMilliseconds: Double

        init(_ nanoseconds: [UInt64]) {
            let sorted = nanoseconds.sorted()
            func at(_ fraction: Double) -> Double {
                sorted.isEmpty ? 0 : Monotonic.milliseconds(sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction))])
            }
            count = sorted.count
            p50Milliseconds = at(0.5)
            p99Milliseconds = at(0.99)
            maxMilliseconds = at(1)
        }
    }

    struct PlantSummary: Codable, Sendable {
        var expectation: PlantKind.Expectation
        var planted = 0
        var brokenByWorker = 0
        var neededOperator = 0
        var stillThereAtEnd = 0
        var resolveMilliseconds: [Double] = []
        /// Acquisition errors workers reported while it was at the lock path.
        var workerErrors = 0
    }

    struct Violations: Codable, Sendable {
        /// Two holders' [acquired, released] intervals intersect.
        var overlappingHoldings = 0
        /// A data record carries a time outside its holding's interval.
        var recordsOutsideHolding = 0
        /// A holding's record comes after another holding's record began (written under a lost lock).
        var recordsAfterAnotherHolder = 0
        /// A data record fails its checksum, is cut short, or names a holding the log never saw.
        var damagedRecords = 0
        var recordsOfUnknownHoldings = 0
        /// A reader saw a damaged record.
        var readerDamagedRecords = 0
        /// An invalid lock file (or a future-dated record) removed before it was older than the stale threshold.
        var freshInvalidLockBroken = 0
        /// A directory or symlink at the lock path removed by a worker: the library must never do that.
        var nonRegularLockRemovedByWorker = 0
        /// Someone acquired while a paused holder still held its kernel lock (one machine).
        var acquiredWhileHolderPaused = 0
        /// `release()` found the lock file replaced: someone else believed it held the lock.
        var releaseFoundTakeover = 0
        /// A plant that a worker should have broken needed the operator.
        var livenessFailures = 0
        var unexpectedWorkerExits = 0
        var hungWorkers = 0

        var total: Int {
            overlappingHoldings + recordsOutsideHolding + recordsAfterAnotherHolder + damagedRecords + recordsOfUnknownHoldings
                + readerDamagedRecords + freshInvalidLockBroken + nonRegularLockRemovedByWorker + acquiredWhileHolderPaused
                + releaseFoundTakeover + livenessFailures + unexpectedWorkerExits + hungWorkers
        }
    }

    var workers = 0
    var seconds = 0.0
    var seed: UInt64 = 0
    var faults = ""
    var directory = ""
    var staleThresholdMilliseconds = 0
    var heartbeatMilliseconds = 0
    var namespacesSkipped: String?
    var execSkipped: String?
    var placements: [String: Int] = [:]
    var namedTemporaryWorkers = 0

    var acquisitions = 0
    var acquisitionsWithoutWaiting = 0
    var acquisitionsWaiting = 0
    var acquisitionsByPlacement: [String: Int] = [:]
    var acquisitionsByNamedTemporaryWorkers = 0
    var busyAnswers = 0
    var timeouts = 0
    var recordsWritten = 0
    var readerPasses = 0
    var readerRecordsVerified = 0
    var workerErrors: [String: Int] = [:]

    var killsOfHolders = 0
    var killsOfContenders = 0
    /// SIGKILLs of an exec worker's `rvf-lock exec` while it held the lock.
    var killsOfExecHolders = 0
    /// Records those holdings' writers (rvf-lock's grandchildren) wrote after their rvf-lock was killed.
    var execRecordsAfterKill = 0
    var respawns = 0
    var pauses = 0
    var pausesHolderKeptLock = 0
    /// Pauses that landed just after the holder logged its release: not a paused holder after all.
    var pausesAfterReleaseBegan = 0
    var plants: [String: PlantSummary] = [:]
    var plantsSkippedLockBusy = 0
    var lostLockDetections = 0

    var recoveryAfterKill = Percentiles([])
    var waitForLock = Percentiles([])
    var leftoverTemporaries: [String] = []

    var violations = Violations()
    var violationDetails: [String] = []

    var table: String {
        var rows: [(String, String)] = []
        func row(_ name: String, _ value: Any) { rows.append((name, "\(value)")) }
        func ms(_ value: Double) -> String { String(format: "%.1f ms", value) }
        row("workers / seconds / seed", "\(workers) / \(String(format: "%.1f", seconds)) / \(seed)")
        row("faults", faults + (namespacesSkipped.map { " (namespaces skipped: \($0))" } ?? "")
            + (execSkipped.map { " (exec workers skipped: \($0))" } ?? ""))
        row("stale threshold / heartbeat", "\(staleThresholdMilliseconds) ms / \(heartbeatMilliseconds) ms")
        row("placements", placements.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            + ", named temporaries \(namedTemporaryWorkers)")
        row("acquisitions", "\(acquisitions) (tryAcquire \(acquisitionsWithoutWaiting), acquire(timeout:) \(acquisitionsWaiting))")
        row("  by placement", acquisitionsByPlacement.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            + ", named-temp workers \(acquisitionsByNamedTemporaryWorkers)")
        row("busy answers / timeouts", "\(busyAnswers) / \(timeouts) (from workers that ended normally)")
        row("records written / verified by readers", "\(recordsWritten) / \(readerRecordsVerified) in \(readerPasses) passes")
        row("worker errors", workerErrors.isEmpty ? "0" : workerErrors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        row("kills: holders / contenders", "\(killsOfHolders) / \(killsOfContenders) (respawns \(respawns))")
        row("kills of rvf-lock exec holders", "\(killsOfExecHolders); their writers wrote \(execRecordsAfterKill) records after the kill")
        row("recovery after killing a holder", "p50 \(ms(recoveryAfterKill.p50Milliseconds)), max \(ms(recoveryAfterKill.maxMilliseconds)) (n=\(recoveryAfterKill.count))")
        row("pauses (SIGSTOP > threshold)", "\(pauses), holder kept its lock in \(pausesHolderKeptLock), landed after release began \(pausesAfterReleaseBegan)")
        row("lost-lock detections", lostLockDetections)
        for (name, plant) in plants.sorted(by: { $0.key < $1.key }) {
            let times = plant.resolveMilliseconds
            let range = times.isEmpty ? "" : String(format: ", gone after %.0f-%.0f ms", times.min()!, times.max()!)
            row("plant \(name)", "\(plant.planted) planted, \(plant.brokenByWorker) broken by a worker, \(plant.neededOperator) needed operator, \(plant.stillThereAtEnd) cut short by the end\(range), worker errors \(plant.workerErrors)")
        }
        row("plants skipped (lock never free)", plantsSkippedLockBusy)
        row("wait for the lock", "p50 \(ms(waitForLock.p50Milliseconds)), p99 \(ms(waitForLock.p99Milliseconds)), longest \(ms(waitForLock.maxMilliseconds))")
        row("leftover temporaries", leftoverTemporaries.count)
        row("VIOLATIONS", violations.total)
        let width = rows.map(\.0.count).max() ?? 0
        var text = rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
        if violations.total > 0 {
            text += "\n" + violationDetails.prefix(30).map { "  violation: " + $0 }.joined(separator: "\n")
        }
        return text + "\n"
    }
}
