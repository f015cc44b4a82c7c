import RVFLock

/// Item 7a (issue 8's cost): the whole-process time of running one trivial
/// command under the lock, `rvf-lock exec -n FILE -- true` against
/// `flock -n FILE true`, with two controls: `rvf-lock --version` (the binary's
/// start-up alone) and `true` (a process start with nothing else).
///
/// Timed from `posix_spawn` to `waitpid` returning, the four interleaved in a
/// rotating order round after round, so that load from other users of the
/// machine falls on all of them alike; each run is also divided by flock(1)'s
/// run of the same round (issue 17 judges the median of those paired ratios).
///
/// Then flock(1) and `rvf-lock exec` again, once rvf-lock's binary has been
/// dropped from the page cache and read back by `execve`'s page faults, as after
/// a reboot: the same bytes start faster or slower by how their cache was filled
/// (see ``PageCache``), and the install leaves it as no reboot does.
struct CommandStartBenchmark {
    let context: BenchContext
    let tools: CommandTools
    /// Runs of each command before the measured rounds (page cache, dynamic loader).
    static let warmupRuns = 3

    func run() throws -> Results.CommandStart {
        let rvfLockData = try context.dataFile(for: "cli-start-rvf-lock")
        let flockFile = try context.dataFile(for: "cli-start-flock")
        let directory = context.directory
        // flock(1) first: the paired ratios divide by its run of each round.
        let commands: [(command: String, prepared: PreparedCommand)] = [
            (
                "flock -n FILE true",
                PreparedCommand(
                    label: "flock(1)", executable: tools.flock, arguments: ["-n", flockFile, "true"],
                    standardError: directory + "/cli-start-flock.stderr")
            ),
            (
                "rvf-lock exec -n FILE -- true",
                PreparedCommand(
                    label: "rvf-lock exec", executable: tools.rvfLock,
                    arguments: ["exec", "-n", rvfLockData, "--", "true"],
                    standardError: directory + "/cli-start-rvf-lock.stderr")
            ),
            (
                "rvf-lock --version",
                PreparedCommand(
                    label: "rvf-lock --version", executable: tools.rvfLock, arguments: ["--version"],
                    standardError: directory + "/cli-start-version.stderr")
            ),
            (
                "true",
                PreparedCommand(
                    label: "true", executable: tools.trueCommand, arguments: [],
                    standardError: directory + "/cli-start-true.stderr")
            ),
        ]
        let rounds = context.profile.commandStartRounds
        let samples = try Self.interleave(commands.map(\.prepared), rounds: rounds)
        // As after a reboot: the binary read back by execve's page faults.
        PageCache.drop(tools.rvfLock)
        let left = PageCache.cachedPages(of: tools.rvfLock)
        let again = [commands[0], commands[1]]
        let afterDrop = try Self.interleave(again.map(\.prepared), rounds: rounds)
        return Results.CommandStart(
            rvfLock: shownPath(tools.rvfLock), flock: tools.flock, rounds: rounds,
            rows: Self.rows(commands, samples), afterDrop: Self.rows(again, afterDrop),
            pagesLeftAfterDrop: left?.cached, pagesInBinary: left?.total)
    }

    /// Each command's times over `rounds` rounds, in a rotating order, after warm-up runs.
    private static func interleave(_ commands: [PreparedCommand], rounds: Int) throws -> [[Double]] {
        for prepared in commands {
            for _ in 0..<warmupRuns { try prepared.wait(for: prepared.spawn()) }
        }
        var samples = [[Double]](repeating: [], count: commands.count)
        for round in 0..<rounds {
            for offset in commands.indices {
                let index = (round + offset) % commands.count
                let prepared = commands[index]
                let startedAt = Syscalls.monotonicNanoseconds()
                try prepared.wait(for: prepared.spawn())
                samples[index].append(Double(Syscalls.monotonicNanoseconds() - startedAt))
            }
        }
        return samples
    }

    /// The rows, each divided run by run by the first command's (flock(1)'s).
    private static func rows(
        _ commands: [(command: String, prepared: PreparedCommand)], _ samples: [[Double]]
    ) -> [Results.CommandStart.Row] {
        commands.indices.map { index in
            Results.CommandStart.Row(
                name: commands[index].prepared.label, command: commands[index].command,
                nanoseconds: Summary(samples[index]),
                pairedRatioToFlock: Summary(zip(samples[index], samples[0]).map { $0 / $1 }))
        }
    }
}
