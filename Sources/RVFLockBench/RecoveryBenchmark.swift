#if canImport(Glibc)
import Glibc
import RVFLock
#endif

/// Item 5: a holder is killed with SIGKILL while another process waits: how
/// long until the waiter holds the lock.
///
/// The clock starts just before the kill; the waiter stamps the moment its
/// acquire returns. The killed holder is reaped at once, as a parent would.
struct RecoveryBenchmark {
    let context: BenchContext
    /// How long the waiter is left waiting before the kill, so that it is asleep, not starting.
    static let settleNanoseconds: UInt64 = 300_000_000

    func run() throws -> Results.Recovery {
        var samples: [Double] = []
        for trial in 1...context.profile.recoveryTrials {
            let data = try context.dataFile(for: "recovery-\(trial)")
            samples.append(
                try trialOnce(
                    holder: context.worker(["hold", "--file", data], label: "recovery holder"),
                    waiter: { () throws(BenchFailure) in
                        try context.worker(["wait", "--file", data, "--timeout-ms", "60000"], label: "recovery waiter")
                    }))
        }
        var referenceNanoseconds: Double?
        var note: String
        if context.reference == nil {
            note = "reference not measured: \(context.referenceUnavailable ?? "no harness")"
        } else if context.profile.measuresReferenceRecovery {
            progress("  recovery: the reference (expect about 30 s)")
            let data = try context.dataFile(for: "recovery-reference")
            referenceNanoseconds = try trialOnce(
                holder: context.referenceWorker(["hold", data], label: "reference recovery holder"),
                waiter: { () throws(BenchFailure) in
                    try context.referenceWorker(["wait", data, "10000", "120000"], label: "reference recovery waiter")
                })
            note = "reference measured once, its waiter retrying every 10 ms; it must wait until the dead holder's lock is 30 s old"
        } else {
            note = "reference not measured in the quick profile: it breaks a dead holder's lock only once the lock is older than 30 s"
        }
        return Results.Recovery(
            trials: samples.count, nanoseconds: Summary(samples),
            referenceNanoseconds: referenceNanoseconds, referenceNote: note)
    }

    private func trialOnce(
        holder: WorkerProcess,
        waiter makeWaiter: () throws(BenchFailure) -> WorkerProcess
    ) throws(BenchFailure) -> Double {
        _ = try holder.expectLine()
        let waiter = try makeWaiter()
        _ = try waiter.expectLine()
        Syscalls.sleep(nanoseconds: Self.settleNanoseconds)
        let killedAt = Syscalls.monotonicNanoseconds()
        holder.signal(SIGKILL)
        holder.reap()
        let lines = try waiter.finish(timeoutNanoseconds: 150_000_000_000)
        guard let line = lines.first(where: { $0.hasPrefix("acquired") }), let acquiredAt = field("at-ns", in: line) else {
            throw BenchFailure("\(waiter.label) never got the lock: \(lines)")
        }
        guard acquiredAt > killedAt else {
            throw BenchFailure("\(waiter.label) got the lock before its holder was killed: \(lines)")
        }
        return Double(acquiredAt - killedAt)
    }
}
