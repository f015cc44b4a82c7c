import Foundation
import RVFLock

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
                sorted.isEmpty ? 0 : milliseconds(sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction))])
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

    /// Chdir workers: the lock taken by a relative path, directories changed while holding.
    struct ChdirSummary: Codable, Sendable {
        var workers = 0
        var holdings = 0
        /// chdir calls away from the lock's directory while holding.
        var changesAway = 0
        /// Holdings that went back to the lock's directory before releasing.
        var returnedBeforeRelease = 0
        /// Holdings released from another directory.
        var releasedFromElsewhere = 0
        var releasesThrew = 0
        var lostLockDetections = 0
        /// Changes in the directories they visited (the decoy lock and stray files).
        var decoyDisturbances: [String] = []
    }

    /// Workers started with standard output (and some with standard input) closed.
    struct ClosedStdoutSummary: Codable, Sendable {
        var workers = 0
        var withStandardInputClosed = 0
        var holdings = 0
        /// Holdings that printed and then checked the lock file while still holding.
        var holdingsChecked = 0
        /// What descriptor 1 was when they printed: devnull, closed, lockfile, other:PATH.
        var standardOutput: [String: Int] = [:]
        /// What the lock file was then: ok (this holder's valid 104-byte record) or what was wrong.
        var lockFileVerdicts: [String: Int] = [:]
        var releasesThrew = 0
        var lostLockDetections = 0
    }

    /// Reference implementation holders naming this host by an alias.
    struct AliasReferenceSummary: Codable, Sendable {
        var alias = ""
        var skipped: String?
        var otherHostThresholdMilliseconds = 0
        /// The other-host threshold of workers that cannot probe the reference's pid.
        var blindWorkersOtherHostThresholdMilliseconds = 0
        var started = 0
        var holdings = 0
        /// Gave up after 3 s without finding the lock free.
        var gaveUp = 0
        var held = Percentiles([])
        var waitedForLock = Percentiles([])
        var recordsWritten = 0
        /// The reference found its lock file no longer its own while holding.
        var lostByReference = 0
        /// Busy answers and timeouts of RVFLock workers while the lock file named the alias.
        var refusalsBusy = 0
        var refusalsTimedOut = 0
        /// What `status()` said right after such a refusal.
        var statusAfterRefusal: [String: Int] = [:]
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
        /// A closed-stdout worker's lock file, read while it held the lock after printing, was
        /// not its valid 104-byte record (or descriptor 1 was the lock file).
        var lockFileDamagedWhileHeld = 0
        /// Something changed in the directories chdir workers visit while holding.
        var decoyDisturbed = 0
        /// A reference holder found its live lock file replaced: an RVFLock worker broke it.
        var liveReferenceLockBroken = 0

        var total: Int {
            overlappingHoldings + recordsOutsideHolding + recordsAfterAnotherHolder + damagedRecords + recordsOfUnknownHoldings
                + readerDamagedRecords + freshInvalidLockBroken + nonRegularLockRemovedByWorker + acquiredWhileHolderPaused
                + releaseFoundTakeover + livenessFailures + unexpectedWorkerExits + hungWorkers + lockFileDamagedWhileHeld
                + decoyDisturbed + liveReferenceLockBroken
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
    var chdir = ChdirSummary()
    var closedStdout = ClosedStdoutSummary()
    var aliasReference = AliasReferenceSummary()
    /// The other user's breaker: its own summary line, or why it did not run.
    var otherUserBreaker: String?

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
        row(
            "faults",
            faults + (namespacesSkipped.map { " (namespaces skipped: \($0))" } ?? "")
                + (execSkipped.map { " (exec workers skipped: \($0))" } ?? ""))
        row("stale threshold / heartbeat", "\(staleThresholdMilliseconds) ms / \(heartbeatMilliseconds) ms")
        row(
            "placements",
            placements.filter { $0.key != "aliasReference" }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
                separator: ", ")
                + ", named temporaries \(namedTemporaryWorkers)")
        row(
            "acquisitions",
            "\(acquisitions) (tryAcquire \(acquisitionsWithoutWaiting), acquire(timeout:) \(acquisitionsWaiting)"
                + (aliasReference.holdings > 0 ? ", reference \(aliasReference.holdings))" : ")"))
        row(
            "  by placement",
            acquisitionsByPlacement.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + ", named-temp workers \(acquisitionsByNamedTemporaryWorkers)")
        row("busy answers / timeouts", "\(busyAnswers) / \(timeouts) (from workers that ended normally)")
        row("records written / verified by readers", "\(recordsWritten) / \(readerRecordsVerified) in \(readerPasses) passes")
        row(
            "worker errors",
            workerErrors.isEmpty ? "0" : workerErrors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        row("kills: holders / contenders", "\(killsOfHolders) / \(killsOfContenders) (respawns \(respawns))")
        row("kills of rvf-lock exec holders", "\(killsOfExecHolders); their writers wrote \(execRecordsAfterKill) records after the kill")
        row(
            "recovery after killing a holder",
            "p50 \(ms(recoveryAfterKill.p50Milliseconds)), max \(ms(recoveryAfterKill.maxMilliseconds)) (n=\(recoveryAfterKill.count))")
        row(
            "pauses (SIGSTOP > threshold)",
            "\(pauses), holder kept its lock in \(pausesHolderKeptLock), landed after release began \(pausesAfterReleaseBegan)")
        row("lost-lock detections", lostLockDetections)
        func counts(_ values: [String: Int]) -> String {
            values.isEmpty ? "none" : values.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        if chdir.workers > 0 {
            row(
                "chdir workers",
                "\(chdir.workers); \(chdir.holdings) holdings by a relative path, \(chdir.changesAway) chdirs away while holding, "
                    + "released from elsewhere \(chdir.releasedFromElsewhere), back first \(chdir.returnedBeforeRelease)")
            row(
                "  releases that threw / lost",
                "\(chdir.releasesThrew) / \(chdir.lostLockDetections); "
                    + "decoy and away directories \(chdir.decoyDisturbances.isEmpty ? "untouched" : "DISTURBED (\(chdir.decoyDisturbances.count))")"
            )
        }
        if closedStdout.workers > 0 {
            row(
                "closed-stdout workers",
                "\(closedStdout.workers) (\(closedStdout.withStandardInputClosed) with stdin closed too); "
                    + "\(closedStdout.holdings) holdings, \(closedStdout.holdingsChecked) printed and checked the lock file while holding")
            row("  descriptor 1 when printing", counts(closedStdout.standardOutput))
            row(
                "  lock file while held",
                counts(closedStdout.lockFileVerdicts)
                    + "; releases that threw \(closedStdout.releasesThrew), lost \(closedStdout.lostLockDetections)")
        }
        if let skipped = aliasReference.skipped {
            row("alias reference holders", "skipped: \(skipped)")
        } else if aliasReference.started > 0 {
            let reference = aliasReference
            row(
                "alias reference holders",
                "\(reference.started) started as \(reference.alias), \(reference.holdings) held "
                    + "(each for p50 \(ms(reference.held.p50Milliseconds)), max \(ms(reference.held.maxMilliseconds)); other-host threshold "
                    + "\(reference.otherHostThresholdMilliseconds) ms), gave up \(reference.gaveUp), records \(reference.recordsWritten), "
                    + "lost \(reference.lostByReference)")
            row(
                "  RVFLock refused while held",
                "busy \(reference.refusalsBusy), timed out \(reference.refusalsTimedOut); status() then: "
                    + counts(reference.statusAfterRefusal))
            row(
                "  reference wait for the lock",
                "p50 \(ms(reference.waitedForLock.p50Milliseconds)), longest \(ms(reference.waitedForLock.maxMilliseconds)); "
                    + "workers that cannot probe its pid use an other-host threshold of \(reference.blindWorkersOtherHostThresholdMilliseconds) ms"
            )
        }
        if let otherUserBreaker { row("other-user breaker", otherUserBreaker) }
        for (name, plant) in plants.sorted(by: { $0.key < $1.key }) {
            let times = plant.resolveMilliseconds
            let range = times.isEmpty ? "" : String(format: ", gone after %.0f-%.0f ms", times.min()!, times.max()!)
            row(
                "plant \(name)",
                "\(plant.planted) planted, \(plant.brokenByWorker) broken by a worker, \(plant.neededOperator) needed operator, \(plant.stillThereAtEnd) cut short by the end\(range), worker errors \(plant.workerErrors)"
            )
        }
        row("plants skipped (lock never free)", plantsSkippedLockBusy)
        row(
            "wait for the lock",
            "p50 \(ms(waitForLock.p50Milliseconds)), p99 \(ms(waitForLock.p99Milliseconds)), longest \(ms(waitForLock.maxMilliseconds))")
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

/// Nanoseconds of the monotonic clock as milliseconds, for the report.
func milliseconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1_000_000 }
