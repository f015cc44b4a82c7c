#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock

/// Judges a finished run from the event log, the data file and the parent's fault records.
///
/// Logged intervals are conservative: a worker logs `A` after `acquire` returned and `R`
/// before calling `release`, so [A, R] lies inside its real holding, and every record
/// it wrote lies inside [A, R]. Two such intervals that intersect are two real holders.
/// A killed holder has no `R`; its interval ends at its last record's timestamp, which
/// was taken while it still held the lock (its kernel lock outlives it only until exit).
struct RunVerifier {
    let supervisor: Supervisor
    let dataFile: [UInt8]
    let readerResults: [String]

    func report() -> TortureReport {
        var report = TortureReport()
        let configuration = supervisor.configuration
        var violations = TortureReport.Violations()
        var details: [String] = []
        func violation(_ text: String) { if details.count < 200 { details.append(text) } }

        report.workers = configuration.workers
        report.seconds = configuration.seconds
        report.seed = configuration.seed
        report.faults = configuration.faults.description
        report.directory = configuration.files.directory
        report.staleThresholdMilliseconds = configuration.staleMilliseconds
        report.heartbeatMilliseconds = configuration.heartbeatMilliseconds
        report.namespacesSkipped = supervisor.namespaceSkipReason
        report.execSkipped = supervisor.execSkipReason
        for slot in supervisor.slots { report.placements[slot.placement.rawValue, default: 0] += 1 }
        report.namedTemporaryWorkers = supervisor.slots.filter(\.namedTemporaries).count
        func placement(_ writer: Int) -> Supervisor.Placement? {
            supervisor.slots.indices.contains(writer) ? supervisor.slots[writer].placement : nil
        }
        report.chdir.workers = supervisor.slots.filter { $0.placement == .chdir }.count
        report.closedStdout.workers =
            supervisor.slots.filter { $0.placement == .closedStdout || $0.placement == .closedStdoutAndStdin }.count
        report.closedStdout.withStandardInputClosed = supervisor.slots.filter { $0.placement == .closedStdoutAndStdin }.count
        if let skipped = supervisor.otherUserSkipReason {
            report.otherUserBreaker = "skipped: \(skipped)"
        } else if let output = try? String(contentsOfFile: supervisor.breakerOutput, encoding: .utf8) {
            report.otherUserBreaker =
                output.split(separator: "\n").last { $0.hasPrefix("breaker uid ") }.map(String.init)
                ?? "no summary (output: \(output.prefix(200)))"
        }
        report.aliasReference.alias = configuration.referenceAlias
        report.aliasReference.skipped = supervisor.referenceSkipReason
        report.aliasReference.started = supervisor.referenceSlot.map { supervisor.slots[$0].incarnation + 1 } ?? 0
        report.aliasReference.otherHostThresholdMilliseconds = configuration.otherHostMilliseconds
        report.aliasReference.blindWorkersOtherHostThresholdMilliseconds = max(
            configuration.otherHostMilliseconds, configuration.blindOtherHostMilliseconds)
        var referenceWaits: [UInt64] = []
        /// Where each chdir holding last went while holding.
        var lastDirectory: [HoldingKey: String] = [:]

        // Holdings from the log.
        struct Holding {
            var start: UInt64
            var end: UInt64?
            var lastRecord: UInt64?
        }
        var holdings: [HoldingKey: Holding] = [:]
        var acquisitionTimes: [(time: UInt64, writer: Int)] = []
        var waits: [UInt64] = []
        var errorEvents: [(time: UInt64, code: String)] = []
        for event in supervisor.events {
            switch event {
            case .acquired(let time, let key, _, let waited, let waitedNanoseconds):
                holdings[key] = Holding(start: time)
                acquisitionTimes.append((time, key.writer))
                report.acquisitions += 1
                let slot = supervisor.slots[key.writer]
                switch slot.placement {
                case .aliasReference:
                    // The reference cannot wait: its retry loop's time is reported apart.
                    report.aliasReference.holdings += 1
                    referenceWaits.append(waitedNanoseconds)
                case .chdir:
                    report.chdir.holdings += 1
                case .closedStdout, .closedStdoutAndStdin:
                    report.closedStdout.holdings += 1
                default:
                    break
                }
                if slot.placement != .aliasReference {
                    waits.append(waitedNanoseconds)
                    if waited { report.acquisitionsWaiting += 1 } else { report.acquisitionsWithoutWaiting += 1 }
                }
                report.acquisitionsByPlacement[slot.placement.rawValue, default: 0] += 1
                if slot.namedTemporaries { report.acquisitionsByNamedTemporaryWorkers += 1 }
            case .releasing(let time, let key):
                holdings[key]?.end = time
            case .lost(_, let key):
                report.lostLockDetections += 1
                switch placement(key.writer) {
                case .chdir: report.chdir.lostLockDetections += 1
                case .closedStdout, .closedStdoutAndStdin: report.closedStdout.lostLockDetections += 1
                case .aliasReference:
                    report.aliasReference.lostByReference += 1
                    violations.liveReferenceLockBroken += 1
                    violation("the reference holder \(key) found its live lock file replaced")
                default: break
                }
            case .releaseFailed(_, let key, let code):
                violations.releaseFoundTakeover += 1
                violation("release of \(key) failed with \(code): the lock file was no longer its own")
                switch placement(key.writer) {
                case .chdir: report.chdir.releasesThrew += 1
                case .closedStdout, .closedStdoutAndStdin: report.closedStdout.releasesThrew += 1
                default: break
                }
            case .changedDirectory(_, let key, let target):
                if target != "back" { report.chdir.changesAway += 1 }
                lastDirectory[key] = target
            case .printedWhileHolding(_, let key, let standardOutput, let verdict):
                report.closedStdout.holdingsChecked += 1
                report.closedStdout.standardOutput[standardOutput, default: 0] += 1
                report.closedStdout.lockFileVerdicts[verdict, default: 0] += 1
                if verdict != "ok" || standardOutput == "lockfile" {
                    violations.lockFileDamagedWhileHeld += 1
                    violation("\(key) printed with descriptor 1 = \(standardOutput), then its lock file was: \(verdict)")
                }
            case .refusedByAlias(_, _, let timedOut, let status):
                if timedOut { report.aliasReference.refusalsTimedOut += 1 } else { report.aliasReference.refusalsBusy += 1 }
                report.aliasReference.statusAfterRefusal[status, default: 0] += 1
            case .referenceGaveUp:
                report.aliasReference.gaveUp += 1
            case .acquisitionError(let time, _, let code):
                report.workerErrors[code, default: 0] += 1
                errorEvents.append((time, code))
            case .summary(_, _, _, let busy, let timeouts):
                report.busyAnswers += busy
                report.timeouts += timeouts
            }
        }
        report.waitForLock = .init(waits)
        report.aliasReference.waitedForLock = .init(referenceWaits)
        report.aliasReference.held = .init(
            holdings.compactMap { key, holding in
                placement(key.writer) == .aliasReference ? holding.end.map { $0 - holding.start } : nil
            })
        for (key, target) in lastDirectory where holdings[key]?.end != nil {
            if target == "back" { report.chdir.returnedBeforeRelease += 1 } else { report.chdir.releasedFromElsewhere += 1 }
        }
        report.chdir.decoyDisturbances = supervisor.decoyDisturbances
        violations.decoyDisturbed = supervisor.decoyDisturbances.count
        details += supervisor.decoyDisturbances.map { "chdir decoy: " + $0 }

        // Holdings whose rvf-lock exec was killed: their writers wrote on, under the lock they inherited.
        var execKillTimes: [HoldingKey: UInt64] = [:]
        for kill in supervisor.kills where kill.viaExec {
            if let key = kill.holding { execKillTimes[key] = kill.time }
        }

        // The data file: every record intact, inside its holding, and each holding's records in one run.
        var finished: Set<HoldingKey> = []
        var current: HoldingKey?
        var offset = 0
        while offset < dataFile.count {
            let end = offset + DataRecord.size
            guard end <= dataFile.count, let record = DataRecord(bytes: dataFile[offset..<end]) else {
                violations.damagedRecords += 1
                violation("damaged data record at offset \(offset)")
                offset = end
                continue
            }
            offset = end
            report.recordsWritten += 1
            let key = record.holding
            if placement(key.writer) == .aliasReference { report.aliasReference.recordsWritten += 1 }
            guard let holding = holdings[key] else {
                violations.recordsOfUnknownHoldings += 1
                violation("record of \(key) at offset \(offset - DataRecord.size), which the log never saw acquire")
                continue
            }
            if record.monotonicNanoseconds < holding.start || holding.end.map({ record.monotonicNanoseconds > $0 }) == true {
                violations.recordsOutsideHolding += 1
                violation("record \(key) s=\(record.sequence) written outside its holding")
            }
            holdings[key]?.lastRecord = max(holding.lastRecord ?? 0, record.monotonicNanoseconds)
            if let killedAt = execKillTimes[key], record.monotonicNanoseconds > killedAt { report.execRecordsAfterKill += 1 }
            if key != current {
                if let current { finished.insert(current) }
                if finished.contains(key) {
                    violations.recordsAfterAnotherHolder += 1
                    violation("record \(key) s=\(record.sequence) follows another holder's records: written under a lost lock")
                }
                current = key
            }
        }

        // No two holdings intersect.
        let intervals = holdings.map { key, holding in
            (key: key, start: holding.start, end: holding.end ?? max(holding.start, holding.lastRecord ?? holding.start))
        }.sorted { $0.start < $1.start }
        var latest: (key: HoldingKey, end: UInt64)?
        for interval in intervals {
            if let previous = latest, interval.start <= previous.end {
                violations.overlappingHoldings += 1
                violation(
                    "\(interval.key) acquired \(milliseconds(previous.end - interval.start)) ms before \(previous.key) released")
            }
            if latest.map({ interval.end > $0.end }) ?? true { latest = (interval.key, interval.end) }
        }

        // Kills: was the worker really holding, and how long until anyone acquired again.
        var recoveries: [UInt64] = []
        for kill in supervisor.kills {
            if kill.viaExec {
                report.killsOfExecHolders += 1
                continue
            }
            guard let key = kill.holding, holdings[key]?.end == nil else {
                report.killsOfContenders += 1
                continue
            }
            report.killsOfHolders += 1
            // Log order is write order, not quite time order: take the earliest later acquisition.
            if let next = acquisitionTimes.lazy.map(\.time).filter({ $0 > kill.time }).min() { recoveries.append(next - kill.time) }
        }
        report.recoveryAfterKill = .init(recoveries)
        report.respawns = supervisor.respawns

        // Pauses: on one machine the paused holder keeps its kernel lock: nobody may acquire meanwhile.
        for pause in supervisor.pauses {
            report.pauses += 1
            // The log said "holding" but the worker had begun releasing before it stopped: nothing to check.
            if let end = holdings[pause.holding]?.end, end < pause.stoppedAt {
                report.pausesAfterReleaseBegan += 1
                continue
            }
            let intruders = acquisitionTimes.filter { $0.writer != pause.writer && $0.time > pause.stoppedAt && $0.time < pause.resumedAt }
            if !intruders.isEmpty {
                violations.acquiredWhileHolderPaused += intruders.count
                violation("\(intruders.count) acquisitions while \(pause.holding) was paused")
            }
            let releasedAfterPause = holdings[pause.holding]?.end.map { $0 >= pause.resumedAt } ?? false
            if intruders.isEmpty && releasedAfterPause { report.pausesHolderKeptLock += 1 }
        }

        // Plants.
        let stale = UInt64(configuration.staleMilliseconds) * 1_000_000
        for plant in supervisor.plants {
            var summary = report.plants[plant.kind.rawValue] ?? .init(expectation: plant.kind.expectation)
            summary.planted += 1
            let lifetime = plant.resolvedAt - plant.plantedAt
            if plant.removedAtEnd {
                summary.stillThereAtEnd += 1
                report.plants[plant.kind.rawValue] = summary
                continue
            }
            if plant.neededOperator { summary.neededOperator += 1 } else { summary.brokenByWorker += 1 }
            summary.resolveMilliseconds.append((milliseconds(lifetime) * 10).rounded() / 10)
            summary.workerErrors += errorEvents.filter { $0.time >= plant.plantedAt && $0.time <= plant.resolvedAt }.count
            switch plant.kind.expectation {
            case .brokenAfterThreshold where !plant.neededOperator && lifetime + 100_000_000 < stale,
                .brokenOnceWatchedPastThreshold where !plant.neededOperator && lifetime + 100_000_000 < stale:
                violations.freshInvalidLockBroken += 1
                violation(
                    "lock file (\(plant.kind.rawValue)) removed \(milliseconds(lifetime)) ms after it appeared, before the threshold"
                )
            case .brokenAfterThreshold where plant.neededOperator, .brokenAtOnce where plant.neededOperator,
                .brokenOnceWatchedPastThreshold where plant.neededOperator:
                violations.livenessFailures += 1
                violation("\(plant.kind.rawValue) lock file was never broken by a worker")
            case .notARegularFile where !plant.neededOperator:
                violations.nonRegularLockRemovedByWorker += 1
                violation("\(plant.kind.rawValue) at the lock path was removed by a worker")
            default:
                break
            }
            report.plants[plant.kind.rawValue] = summary
        }
        report.plantsSkippedLockBusy = supervisor.plantsSkippedBusy

        // Readers.
        for result in readerResults {
            let numbers = result.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
            guard numbers.count == 3 else {
                violations.readerDamagedRecords += 1
                violation("a reader left no result: \(result)")
                continue
            }
            report.readerPasses += numbers[0]
            report.readerRecordsVerified += numbers[1]
            violations.readerDamagedRecords += numbers[2]
            if numbers[2] > 0 { violation("a reader saw \(numbers[2]) damaged records") }
        }

        violations.unexpectedWorkerExits = supervisor.unexpectedExits.count
        details += supervisor.unexpectedExits.map { "unexpected exit: " + $0 }
        violations.hungWorkers = supervisor.hungWorkers
        if supervisor.hungWorkers > 0 { violation("\(supervisor.hungWorkers) workers did not end within 20 s of the deadline") }
        report.leftoverTemporaries = supervisor.leftoverTemporaries()
        report.violations = violations
        report.violationDetails = details
        return report
    }
}
