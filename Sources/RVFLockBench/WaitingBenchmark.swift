#if canImport(Glibc)
import Glibc
#endif

/// Item 4: CPU time a process spends waiting for a lock another process holds.
///
/// The waiter measures its own CPU time (all threads, nanoseconds) across an
/// `acquire(timeout:)` that times out, so process start-up is not counted.
struct WaitingBenchmark {
    let context: BenchContext

    func run() throws -> Results.Waiting {
        let data = try context.dataFile(for: "waiting")
        let seconds = context.profile.waitingSeconds
        let holder = try context.worker(["hold", "--file", data], label: "waiting: holder")
        _ = try holder.expectLine()
        let waiter = try context.worker(
            ["wait", "--file", data, "--timeout-ms", "\(Int(seconds * 1000))"],
            label: "waiting: waiter")
        let lines = try waiter.finish(timeoutNanoseconds: UInt64(seconds * 1e9) + 30_000_000_000)
        holder.signal(SIGTERM)
        holder.reap()
        guard let line = lines.first(where: { $0.hasPrefix("timed-out") || $0.hasPrefix("acquired") }),
            let cpu = field("cpu-ns", in: line), let waited = field("waited-ns", in: line)
        else {
            throw BenchFailure("the waiter printed no usage: \(lines)")
        }
        guard line.hasPrefix("timed-out") else {
            throw BenchFailure("the waiter got the lock although its holder is alive and holding: \(line)")
        }
        return Results.Waiting(
            seconds: Double(waited) / 1e9, cpuNanoseconds: cpu,
            fractionOfCore: Double(cpu) / Double(waited))
    }
}
