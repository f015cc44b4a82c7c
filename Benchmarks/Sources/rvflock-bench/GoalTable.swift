/// The goals, each read against its measurement. Printed, never asserted:
/// the tool exits 0 whatever the numbers are.
enum GoalTable {
    static func goals(for results: Results) -> [Results.Goal] {
        var goals: [Results.Goal] = []
        if let uncontended = results.uncontended,
           let rvflock = uncontended.rows.first(where: { $0.name == "RVFLock" }) {
            let ratio = rvflock.ratioToLinkFloor ?? .nan
            goals.append(.init(measurement: "Uncontended acquire + release vs temp+fsync+link floor",
                               result: "\(Format.duration(rvflock.medianNanosecondsPerOperation)) = \(Format.ratio(ratio)) floor",
                               goal: "≤ 1.1× floor", met: ratio <= 1.1))
            if let reference = uncontended.rows.first(where: { $0.name.hasPrefix("reference") }) {
                goals.append(.init(measurement: "Uncontended acquire + release vs the reference",
                                   result: "\(Format.duration(rvflock.medianNanosecondsPerOperation)) vs \(Format.duration(reference.medianNanosecondsPerOperation))",
                                   goal: "faster than the reference",
                                   met: rvflock.medianNanosecondsPerOperation < reference.medianNanosecondsPerOperation))
            } else {
                goals.append(.init(measurement: "Uncontended acquire + release vs the reference",
                                   result: "not measured", goal: "faster than the reference", met: nil))
            }
        }
        if let four = results.handoff.first(where: { $0.waiters == 4 }) {
            goals.append(.init(measurement: "Handoff latency, 4 waiters, p50", result: Format.duration(four.latencyNanoseconds.median),
                               goal: "< 1 ms", met: four.latencyNanoseconds.median < 1e6))
            goals.append(.init(measurement: "Handoff latency, 4 waiters, p99", result: Format.duration(four.latencyNanoseconds.p99),
                               goal: "< 5 ms", met: four.latencyNanoseconds.p99 < 5e6))
        }
        let ours = results.contention.filter { $0.implementation == "RVFLock" }
        if let eight = ours.first(where: { $0.processes == 8 && $0.holdMicroseconds == 200 }) {
            goals.append(.init(measurement: "8 processes, 200 µs hold: acquisitions per second",
                               result: Format.count(eight.acquisitionsPerSecond) + "/s", goal: "≥ 2,500/s",
                               met: eight.acquisitionsPerSecond >= 2500))
            let fairness = Double(eight.fewestByOneProcess) / Double(max(eight.mostByOneProcess, 1))
            goals.append(.init(measurement: "8 processes, 200 µs hold: least served / most served",
                               result: "\(eight.fewestByOneProcess) / \(eight.mostByOneProcess) = \(Format.ratio(fairness))",
                               goal: "≥ 0.5", met: fairness >= 0.5))
        }
        if !ours.isEmpty {
            let overlaps = ours.map(\.overlaps).reduce(0, +)
            goals.append(.init(measurement: "Overlaps, RVFLock, every size and hold",
                               result: "\(overlaps) in \(Format.count(Double(ours.map(\.acquisitions).reduce(0, +)))) acquisitions",
                               goal: "0", met: overlaps == 0))
            // "Collapse": 32 processes get less than half of what 8 get with the same hold.
            let ratios = ours.filter { $0.processes == 32 }.compactMap { big in
                ours.first { $0.processes == 8 && $0.holdMicroseconds == big.holdMicroseconds }
                    .map { (big, $0, big.acquisitionsPerSecond / max($0.acquisitionsPerSecond, 1)) }
            }
            if let worst = ratios.min(by: { $0.2 < $1.2 }) {
                goals.append(.init(measurement: "No collapse at 32 processes (worst hold: \(worst.0.holdMicroseconds) µs)",
                                   result: "\(Format.count(worst.0.acquisitionsPerSecond))/s vs \(Format.count(worst.1.acquisitionsPerSecond))/s at 8 = \(Format.ratio(worst.2))",
                                   goal: "≥ 0.5× the 8-process rate", met: worst.2 >= 0.5))
            }
        }
        if let waiting = results.waiting {
            goals.append(.init(measurement: "CPU of a waiting process",
                               result: Format.percent(waiting.fractionOfCore) + " of a core",
                               goal: "< 1 % of a core", met: waiting.fractionOfCore < 0.01))
        }
        if let recovery = results.recovery {
            goals.append(.init(measurement: "Recovery after SIGKILL of the holder (worst of \(recovery.trials))",
                               result: "median \(Format.duration(recovery.nanoseconds.median)), max \(Format.duration(recovery.nanoseconds.maximum))",
                               goal: "< 1 s", met: recovery.nanoseconds.maximum < 1e9))
        }
        return goals
    }
}
