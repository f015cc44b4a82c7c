import ArgumentParser

/// How long and how often each measurement runs.
///
/// `quick` exists so that CI runs every code path in well under a minute; its
/// numbers are rough. `full` is what the README's table comes from.
enum Profile: String, CaseIterable, Codable, ExpressibleByArgument {
    case quick
    case full

    /// Item 1: interleaved runs, operations per run, warm-up operations per run.
    var uncontendedRuns: Int { self == .quick ? 3 : 9 }
    var uncontendedOperations: Int { self == .quick ? 40 : 300 }
    var uncontendedWarmup: Int { self == .quick ? 5 : 30 }

    /// Item 2: seconds per waiter count, of which the first fifth is warm-up.
    var handoffSeconds: Double { self == .quick ? 0.5 : 6 }
    var handoffWaiters: [Int] { [1, 4, 16] }

    /// Item 3.
    var contentionSeconds: Double { self == .quick ? 0.5 : 10 }
    var contentionProcesses: [Int] { [2, 8, 32] }
    var contentionHoldMicroseconds: [UInt64] { [0, 200] }

    /// Item 4.
    var waitingSeconds: Double { self == .quick ? 2 : 10 }

    /// Item 5: crash trials; whether to sit out the reference's 30 s rule once.
    var recoveryTrials: Int { self == .quick ? 3 : 10 }
    var measuresReferenceRecovery: Bool { self == .full }

    /// Item 6: at least 60 s of beats in the full profile (issue 17: 12 beats at the
    /// default interval, not the 4 of 20 s, whose cost moved with noise).
    var heartbeatSeconds: Double { self == .quick ? 2 : 60 }

    /// Item 7: rounds of the four interleaved whole-process commands.
    var commandStartRounds: Int { self == .quick ? 10 : 200 }
    /// Item 7: seconds of each exec-to-exec handoff round, and rounds per wrapper.
    var commandHandoffSeconds: Double { self == .quick ? 1 : 4 }
    var commandHandoffRounds: Int { self == .quick ? 1 : 2 }
}
