import Foundation

/// Renders results as the markdown the README quotes.
struct MarkdownReport {
    let results: Results

    private func uncontendedTable(_ uncontended: Results.Uncontended, into out: inout [String]) {
        out.append(
            "| Implementation | median ns/op | p50 | p99 | ratio to the reference | ratio to temp+fsync+link floor | what one operation is |"
        )
        out.append("|---|---|---|---|---|---|---|")
        for row in uncontended.rows {
            out.append(
                "| \(row.name) | \(Format.count(row.medianNanosecondsPerOperation)) | \(Format.duration(row.perOperation.median)) "
                    + "| \(Format.duration(row.perOperation.p99)) | \(Format.ratio(row.ratioToReference ?? .nan)) "
                    + "| \(Format.ratio(row.ratioToLinkFloor ?? .nan)) | \(row.what) |")
        }
    }

    func render() -> String {
        var out: [String] = []
        let machine = results.machine
        out.append("## RVFLock benchmarks (\(results.profile.rawValue) profile)")
        out.append("")
        out.append("Command: `\(results.command)`  ")
        out.append(
            "Run \(machine.startedAt) on \(machine.system), \(machine.cores) cores, lock files in \(machine.fileSystem); "
                + "load average \(machine.loadAverageAtStart) at start, \(machine.loadAverageAtEnd) at end; took \(Int(machine.secondsTaken)) s. "
                + "The machine is shared with other engineers' builds and tests, so expect noise.")
        out.append("")
        out.append("### Goals")
        out.append("")
        out.append(
            "Issue 8: the cost of `rvf-lock exec` against flock(1); issue 9: performance against kernel flock(2) and the reference; "
                + "issue 17: the tool's start-up, the heartbeat's cost, the library's cost over its own system calls, and throughput. "
                + "Where the floor ran (items 2 and 3), its figure follows ours: what RVFLock's handoff as bare system calls reaches, "
                + "so that a goal the floor misses too is beyond the protocol, not the library. "
                + "Read off the tables below; the tool asserts none of them.")
        out.append("")
        out.append("| Issue | Measurement | Result | Goal | Met? |")
        out.append("|---|---|---|---|---|")
        for goal in results.goals {
            out.append("| \(goal.issue) | \(goal.measurement) | \(goal.result) | \(goal.goal) | \(Format.met(goal.met)) |")
        }
        if let uncontended = results.uncontended {
            out.append("")
            out.append("### 1. Uncontended acquire + release")
            out.append("")
            out.append(
                "Median over \(uncontended.runs) runs of each run's mean over \(uncontended.operationsPerRun) operations, the variants "
                    + "interleaved in blocks of \(UncontendedBenchmark.blockSize) operations; p50/p99 over every single operation. "
                    + "Lock files in \(uncontended.fileSystem). fsync dominates all but the flock floor, so other users' disk I/O moves these numbers."
            )
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
            out.append(
                "From just before the holder's release to just after the next waiter's acquire returns (CLOCK_MONOTONIC across processes); "
                    + "each holder holds 5 ms (in the last rows 30 ms: longer than a holder's 10 ms watch delay, so that it has started "
                    + "its heartbeat thread and its watch when it releases, as most real holders have), "
                    + "then pauses \(HandoffBenchmark.pauseMicroseconds / 1000) ms, "
                    + "so every other process is waiting at each release; \(Format.seconds(results.handoff[0].seconds)) per row, the first fifth warm-up. "
                    + "Kernel flock: the same worker processes, a blocking `flock(LOCK_EX)` / `flock(LOCK_UN)` on a plain file. "
                    + "The floor: RVFLock's handoff as bare system calls in the same worker processes, without the library "
                    + "(the releaser's `fstatat` and `unlink`, its `flock(LOCK_UN)` of the older file it was granted, its `close`; "
                    + "the waiter's blocking `flock`, then `link` of its named file to the lock path and `unlink` of that name), "
                    + "on the same file system: what a handoff through the lock path costs."
            )
            out.append("")
            out.append(
                "| Waiting processes | hold | Implementation | handoffs | p50 | p99 | max | p50 / kernel flock | p99 / kernel flock | p50 / floor |"
            )
            out.append("|---|---|---|---|---|---|---|---|---|---|")
            for row in results.handoff {
                func alike(_ other: Results.Handoff) -> Bool {
                    other.waiters == row.waiters && other.holdMicroseconds == row.holdMicroseconds
                }
                let kernel = results.handoff.first { $0.implementation == .kernelFlock && alike($0) }
                let floor = results.handoff.first { $0.implementation == .linkFloor && alike($0) }
                let latency = row.latencyNanoseconds
                out.append(
                    "| \(row.waiters) | \(row.holdMicroseconds / 1000) ms | \(row.implementation.displayName) | \(latency.count) "
                        + "| \(Format.duration(latency.median)) "
                        + "| \(Format.duration(latency.p99)) | \(Format.duration(latency.maximum)) "
                        + "| \(Format.ratio(kernel.map { latency.median / $0.latencyNanoseconds.median } ?? .nan)) "
                        + "| \(Format.ratio(kernel.map { latency.p99 / $0.latencyNanoseconds.p99 } ?? .nan)) "
                        + "| \(Format.ratio(floor.map { latency.median / $0.latencyNanoseconds.median } ?? .nan)) |")
            }
        }
        if !results.contention.isEmpty {
            out.append("")
            out.append("### 3. Contended throughput, fairness, waits, overlaps")
            out.append("")
            out.append(
                "Each process loops acquire, append `+id`, hold, append `-id`, release, for \(Format.seconds(results.contention[0].seconds)); "
                    + "an overlap is a `+id` appended while another process is inside. Least / most: the fewest acquisitions of one process over the most. "
                    + "A wait is from asking for the lock to holding it, for every acquisition of every process. Kernel flock runs in the same worker loop; "
                    + "a median wait under a microsecond means that releasers mostly took their own lock straight back before a woken waiter ran. "
                    + "The floor (at 8 and 32 processes, the sizes the goals name): RVFLock's protocol as bare system calls in the same loop, "
                    + "as in item 2: the throughput and the fairness of this protocol's handoffs and lines of waiters with no library code. "
                    + "The reference cannot wait: its workers retry every \(ContentionBenchmark.referencePollMicroseconds) µs, and a wait runs from "
                    + "the first try to the success.")
            out.append("")
            out.append(
                "| Implementation | processes | hold | acquisitions/s | / kernel flock | fewest | most | least / most "
                    + "| median wait | p99 wait | longest wait | longest / median | overlaps |")
            out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for row in results.contention {
                let kernel = results.contention.first {
                    $0.implementation == .kernelFlock && $0.processes == row.processes && $0.holdMicroseconds == row.holdMicroseconds
                }
                out.append(
                    "| \(row.implementation.displayName) | \(row.processes) | \(row.holdMicroseconds) µs "
                        + "| \(Format.count(row.acquisitionsPerSecond)) "
                        + "| \(Format.ratio(kernel.map { row.acquisitionsPerSecond / $0.acquisitionsPerSecond } ?? .nan)) "
                        + "| \(row.fewestByOneProcess) | \(row.mostByOneProcess) | \(String(format: "%.2f", row.fairness)) "
                        + "| \(Format.duration(row.waitNanoseconds.median)) | \(Format.duration(row.waitNanoseconds.p99)) "
                        + "| \(Format.duration(row.waitNanoseconds.maximum)) | \(Format.ratio(row.longestToMedianWait)) "
                        + "| \(row.overlaps == 0 ? "0" : "**\(row.overlaps)**") |")
            }
        }
        if let waiting = results.waiting {
            out.append("")
            out.append("### 4. Cost of waiting")
            out.append("")
            out.append(
                "A process waited \(String(format: "%.1f", waiting.seconds)) s for a lock held by another: "
                    + "\(Format.duration(Double(waiting.cpuNanoseconds))) of CPU (all its threads), \(Format.percent(waiting.fractionOfCore)) of a core."
            )
        }
        if let recovery = results.recovery {
            out.append("")
            out.append("### 5. Recovery after the holder is killed")
            out.append("")
            out.append(
                "SIGKILL to the holder while a process waits; from just before the kill until the waiter's acquire returns, default thresholds."
            )
            out.append("")
            out.append("| Implementation | trials | median | max |")
            out.append("|---|---|---|---|")
            out.append(
                "| RVFLock | \(recovery.trials) | \(Format.duration(recovery.nanoseconds.median)) | \(Format.duration(recovery.nanoseconds.maximum)) |"
            )
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
            out.append(
                "Three processes at once, each sleeping \(Format.seconds(results.heartbeat[0].seconds)): an idle control and two holders. "
                    + "Per-hour figures are **extrapolated** from that and net of the idle control.")
            out.append("")
            out.append(
                "| Process | CPU in run | write calls | bytes to storage | CPU per hour | write calls per hour | bytes to storage per hour |"
            )
            out.append("|---|---|---|---|---|---|---|")
            for row in results.heartbeat {
                let isControl = row.intervalMilliseconds == nil
                out.append(
                    "| \(row.label)\(row.stillHeld || isControl ? "" : " (lost the lock!)") | \(Format.duration(Double(row.cpuNanoseconds))) "
                        + "| \(row.writeCalls) | \(Format.bytes(Double(row.storageBytes))) "
                        + "| \(isControl ? "—" : Format.duration(row.cpuMillisecondsPerHour * 1e6)) "
                        + "| \(isControl ? "—" : Format.count(row.writeCallsPerHour)) "
                        + "| \(isControl ? "—" : Format.bytes(row.storageBytesPerHour)) |")
            }
        }
        if let start = results.commandStart {
            out.append("")
            out.append("### 7. `rvf-lock exec` against flock(1)")
            out.append("")
            out.append(
                "Whole-process time, from `posix_spawn` to `waitpid` returning, of \(start.rounds) runs of each command, "
                    + "the four interleaved in a rotating order; FILE is free each time. rvf-lock: `\(start.rvfLock)`; flock(1): `\(start.flock)`."
            )
            out.append("")
            out.append("| Command | runs | p50 | p99 | min | p50 / flock(1) | paired / flock(1), p50 / p99 |")
            out.append("|---|---|---|---|---|---|---|")
            func append(_ rows: [Results.CommandStart.Row], note: String) {
                let flock = rows.first { $0.command.hasPrefix("flock") }
                for row in rows {
                    out.append(
                        "| `\(row.command)`\(note) | \(row.nanoseconds.count) | \(Format.duration(row.nanoseconds.median)) "
                            + "| \(Format.duration(row.nanoseconds.p99)) | \(Format.duration(row.nanoseconds.minimum)) "
                            + "| \(Format.ratio(flock.map { row.nanoseconds.median / $0.nanoseconds.median } ?? .nan)) "
                            + "| \(Format.ratio(row.pairedRatioToFlock.median)) / \(Format.ratio(row.pairedRatioToFlock.p99)) |")
                }
            }
            append(start.rows, note: "")
            if let again = start.afterDrop {
                append(again, note: ", after the drop")
            }
            if let left = start.pagesLeftAfterDrop, let total = start.pagesInBinary {
                out.append("")
                out.append(
                    "The last two rows came after rvf-lock's binary was dropped from the page cache (`POSIX_FADV_DONTNEED`; "
                        + "\(left) of its \(total) pages were left) and read back by `execve`'s page faults, as after a reboot. "
                        + "The same bytes start at different speeds by how their cache was filled: large writes (`cp`, or `install` as "
                        + "the README says) leave large folios, `install -s` (whose `strip` rewrites the file in small pieces) "
                        + "mostly two-page ones, page faults "
                        + "single pages; a fault maps a folio's worth of neighbours at once, and the exit unmaps them likewise.")
            }
        }
        if !results.commandHandoff.isEmpty {
            let flock = results.commandHandoff.first { $0.command.hasPrefix("flock") }
            let first = results.commandHandoff[0]
            out.append("")
            out.append(
                "Exec-to-exec handoff: one wrapper process holds and \(first.waiters) more wait, each running CMD = "
                    + "`rvflock-bench-stamp` (C), which stamps its first output, holds \(first.holdMicroseconds / 1000) ms and stamps its last; "
                    + "a wrapper that ends is started again at once, so the queue stays full. A gap is from one command's last stamp to the next "
                    + "command's first. \(Format.seconds(first.seconds)) of each wrapper, in alternating rounds; the first fifth of each round is warm-up."
            )
            out.append("")
            out.append("| Wrapper | commands | handoffs | p50 | p99 | max | p50 / flock(1) | overlapping commands |")
            out.append("|---|---|---|---|---|---|---|---|")
            for row in results.commandHandoff {
                out.append(
                    "| `\(row.command)` | \(row.commands) | \(row.gapNanoseconds.count) | \(Format.duration(row.gapNanoseconds.median)) "
                        + "| \(Format.duration(row.gapNanoseconds.p99)) | \(Format.duration(row.gapNanoseconds.maximum)) "
                        + "| \(Format.ratio(flock.map { row.gapNanoseconds.median / $0.gapNanoseconds.median } ?? .nan)) "
                        + "| \(row.overlaps == 0 ? "0" : "**\(row.overlaps)**") |")
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
