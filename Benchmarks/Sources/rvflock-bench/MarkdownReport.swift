import Foundation

/// Renders results as the markdown the README quotes.
struct MarkdownReport {
    let results: Results

    private func uncontendedTable(_ uncontended: Results.Uncontended, into out: inout [String]) {
        out.append("| Implementation | median ns/op | p50 | p99 | ratio to temp+fsync+link floor | what one operation is |")
        out.append("|---|---|---|---|---|---|")
        for row in uncontended.rows {
            out.append("| \(row.name) | \(Format.count(row.medianNanosecondsPerOperation)) | \(Format.duration(row.perOperation.median)) "
                + "| \(Format.duration(row.perOperation.p99)) | \(Format.ratio(row.ratioToLinkFloor ?? .nan)) | \(row.what) |")
        }
    }

    func render() -> String {
        var out: [String] = []
        let machine = results.machine
        out.append("## RVFLock benchmarks (\(results.profile.rawValue) profile)")
        out.append("")
        out.append("Command: `\(results.command)`  ")
        out.append("Run \(machine.startedAt) on \(machine.system), \(machine.cores) cores, lock files in \(machine.fileSystem); "
            + "load average \(machine.loadAverageAtStart) at start, \(machine.loadAverageAtEnd) at end; took \(Int(machine.secondsTaken)) s. "
            + "The machine is shared with other engineers' builds and tests, so expect noise.")
        out.append("")
        out.append("### Goals")
        out.append("")
        out.append("| Measurement | Result | Goal | Met? |")
        out.append("|---|---|---|---|")
        for goal in results.goals {
            out.append("| \(goal.measurement) | \(goal.result) | \(goal.goal) | \(Format.met(goal.met)) |")
        }
        if let uncontended = results.uncontended {
            out.append("")
            out.append("### 1. Uncontended acquire + release")
            out.append("")
            out.append("Median over \(uncontended.runs) runs of each run's mean over \(uncontended.operationsPerRun) operations, the variants "
                + "interleaved in blocks of \(UncontendedBenchmark.blockSize) operations; p50/p99 over every single operation. "
                + "Lock files in \(uncontended.fileSystem). fsync dominates all but the flock floor, so other users' disk I/O moves these numbers.")
            out.append("")
            uncontendedTable(uncontended, into: &out)
        }
        if let inMemory = results.uncontendedInMemory {
            out.append("")
            out.append("The same on \(inMemory.fileSystem), where fsync costs nothing: what the code itself costs.")
            out.append("")
            uncontendedTable(inMemory, into: &out)
        }
        if !results.handoff.isEmpty {
            out.append("")
            out.append("### 2. Handoff latency")
            out.append("")
            out.append("From just before the holder's release to just after the next waiter's acquire returns (CLOCK_MONOTONIC across processes); "
                + "each holder holds \(results.handoff[0].holdMicroseconds / 1000) ms, so every other process is waiting at each release.")
            out.append("")
            out.append("| Waiting processes | handoffs | p50 | p99 | max |")
            out.append("|---|---|---|---|---|")
            for row in results.handoff {
                out.append("| \(row.waiters) | \(row.latencyNanoseconds.count) | \(Format.duration(row.latencyNanoseconds.median)) "
                    + "| \(Format.duration(row.latencyNanoseconds.p99)) | \(Format.duration(row.latencyNanoseconds.maximum)) |")
            }
        }
        if !results.contention.isEmpty {
            out.append("")
            out.append("### 3. Contended throughput, fairness, overlaps")
            out.append("")
            out.append("Each process loops acquire, append `+id`, hold, append `-id`, release, for \(Format.count(results.contention[0].seconds)) s; "
                + "an overlap is a `+id` appended while another process is inside. The reference cannot wait: its workers retry every "
                + "\(ContentionBenchmark.referencePollMicroseconds) µs.")
            out.append("")
            out.append("| Implementation | processes | hold | acquisitions/s | fewest by one process | most by one process | overlaps |")
            out.append("|---|---|---|---|---|---|---|")
            for row in results.contention {
                out.append("| \(row.implementation) | \(row.processes) | \(row.holdMicroseconds) µs | \(Format.count(row.acquisitionsPerSecond)) "
                    + "| \(row.fewestByOneProcess) | \(row.mostByOneProcess) | \(row.overlaps) |")
            }
        }
        if let waiting = results.waiting {
            out.append("")
            out.append("### 4. Cost of waiting")
            out.append("")
            out.append("A process waited \(String(format: "%.1f", waiting.seconds)) s for a lock held by another: "
                + "\(Format.duration(Double(waiting.cpuNanoseconds))) of CPU (all its threads), \(Format.percent(waiting.fractionOfCore)) of a core.")
        }
        if let recovery = results.recovery {
            out.append("")
            out.append("### 5. Recovery after the holder is killed")
            out.append("")
            out.append("SIGKILL to the holder while a process waits; from just before the kill until the waiter's acquire returns, default thresholds.")
            out.append("")
            out.append("| Implementation | trials | median | max |")
            out.append("|---|---|---|---|")
            out.append("| RVFLock | \(recovery.trials) | \(Format.duration(recovery.nanoseconds.median)) | \(Format.duration(recovery.nanoseconds.maximum)) |")
            if let reference = recovery.referenceNanoseconds {
                out.append("| reference | 1 | \(Format.duration(reference)) | \(Format.duration(reference)) |")
            }
            out.append("")
            out.append("Reference: \(recovery.referenceNote).")
        }
        if !results.heartbeat.isEmpty {
            out.append("")
            out.append("### 6. Cost of holding (heartbeat)")
            out.append("")
            out.append("Three processes at once, each sleeping \(Format.count(results.heartbeat[0].seconds)) s: an idle control and two holders. "
                + "Per-hour figures are **extrapolated** from that and net of the idle control.")
            out.append("")
            out.append("| Process | CPU in run | write calls | bytes to storage | CPU per hour | write calls per hour | bytes to storage per hour |")
            out.append("|---|---|---|---|---|---|---|")
            for row in results.heartbeat {
                let isControl = row.intervalMilliseconds == nil
                out.append("| \(row.label)\(row.stillHeld || isControl ? "" : " (lost the lock!)") | \(Format.duration(Double(row.cpuNanoseconds))) "
                    + "| \(row.writeCalls) | \(Format.bytes(Double(row.storageBytes))) "
                    + "| \(isControl ? "—" : Format.duration(row.cpuMillisecondsPerHour * 1e6)) "
                    + "| \(isControl ? "—" : Format.count(row.writeCallsPerHour)) "
                    + "| \(isControl ? "—" : Format.bytes(row.storageBytesPerHour)) |")
            }
        }
        if !results.notes.isEmpty {
            out.append("")
            out.append("### Notes")
            out.append("")
            for note in results.notes { out.append("- \(note)") }
        }
        return out.joined(separator: "\n") + "\n"
    }
}
