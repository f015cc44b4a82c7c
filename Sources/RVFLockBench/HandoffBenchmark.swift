/// Item 2: from just before a holder releases to just after the next waiter's
/// acquire returns, with 1, 4 and 16 processes waiting, for RVFLock and for
/// kernel `flock(2)` in the same worker loop.
///
/// All processes loop: acquire, read the releaser's stamp (written under the
/// lock, so always the last release's), hold, stamp the time, release, pause.
/// The pause is shorter than the hold, so at each release every other process
/// is waiting, and the releaser does not take its own lock straight back.
struct HandoffBenchmark {
    let context: BenchContext
    static let holdMicroseconds: UInt64 = 5000
    /// Longer than a holder's watch delay (10 ms): the holder has started its
    /// heartbeat thread and its watch, as most real holders have, when it releases.
    static let longHoldMicroseconds: UInt64 = 30_000
    static let pauseMicroseconds: UInt64 = 1000

    func run(
        _ implementation: Implementation, waiters: Int, holdMicroseconds: UInt64 = Self.holdMicroseconds
    ) throws -> Results.Handoff {
        let data = try context.dataFile(for: "\(implementation.rawValue)-handoff-\(waiters)-\(holdMicroseconds)")
        let stamps = data + ".stamps"
        try context.emptyFile(stamps)
        let processes = waiters + 1
        let seconds = context.profile.handoffSeconds
        let start = context.startTime(processes: processes)
        let end = start + UInt64(seconds * 1e9)
        let warmupEnd = start + UInt64(seconds * 0.2e9)
        let workers = try (1...processes).map { id throws(BenchFailure) in
            try context.worker(
                [
                    "handoff", "--lock", implementation.rawValue, "--file", data, "--id", "\(id)",
                    "--log", stamps, "--start-ns", "\(start)", "--end-ns", "\(end)", "--warmup-ns", "\(warmupEnd)",
                    "--hold-us", "\(holdMicroseconds)", "--pause-us", "\(Self.pauseMicroseconds)",
                ],
                label: "\(implementation.displayName) handoff worker \(id)")
        }
        var samples: [Double] = []
        for worker in workers {
            let lines = try worker.finish()
            guard let line = lines.first(where: { $0.hasPrefix("samples") }) else {
                throw BenchFailure("\(worker.label) printed no samples: \(lines)")
            }
            samples += line.split(separator: " ").dropFirst().compactMap { Double($0) }
        }
        return Results.Handoff(
            implementation: implementation, waiters: waiters, processes: processes, seconds: seconds,
            holdMicroseconds: holdMicroseconds, latencyNanoseconds: Summary(samples))
    }
}
