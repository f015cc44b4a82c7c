/// Everything one run measured, as written to JSON and rendered to markdown.
struct Results: Codable {
    struct Machine: Codable {
        var system: String
        var cores: Int
        var loadAverageAtStart: String
        var loadAverageAtEnd: String
        var lockDirectory: String
        var fileSystem: String
        var startedAt: String
        var secondsTaken: Double
    }

    /// A line of the goals table: a measurement read against the issue's goal. Nothing asserts it.
    struct Goal: Codable {
        /// The issue that sets the goal (8: rvf-lock exec's cost; 9: performance).
        var issue: Int
        var measurement: String
        var result: String
        var goal: String
        /// Nil when the measurement could not be made.
        var met: Bool?
    }

    struct Uncontended: Codable {
        struct Row: Codable {
            var name: String
            var what: String
            /// Mean ns per acquire + release of each run.
            var runNanosecondsPerOperation: [Double]
            var medianNanosecondsPerOperation: Double
            /// Over every single operation of every run.
            var perOperation: Summary
            var ratioToLinkFloor: Double?
            /// This row's median against the reference's, when the reference ran.
            var ratioToReference: Double?
        }
        var runs: Int
        var operationsPerRun: Int
        /// Where the lock files were, with the file system's type.
        var fileSystem: String = ""
        var rows: [Row]
    }

    struct Handoff: Codable {
        var implementation: Implementation
        var waiters: Int
        var processes: Int
        var seconds: Double
        var holdMicroseconds: UInt64
        var latencyNanoseconds: Summary
    }

    struct Contention: Codable {
        var implementation: Implementation
        var processes: Int
        var holdMicroseconds: UInt64
        var seconds: Double
        var acquisitions: Int
        var acquisitionsPerSecond: Double
        var fewestByOneProcess: Int
        var mostByOneProcess: Int
        var overlaps: Int
        /// From asking for the lock to holding it, over every acquisition of every process.
        var waitNanoseconds: Summary

        /// Least served over most served: 1 is perfectly even.
        var fairness: Double { Double(fewestByOneProcess) / Double(max(mostByOneProcess, 1)) }
        /// The longest single wait over the median wait.
        var longestToMedianWait: Double { waitNanoseconds.maximum / waitNanoseconds.median }
    }

    /// Issue 8: whole-process time of one short locked command, each wrapper and
    /// its controls run interleaved, round after round.
    struct CommandStart: Codable {
        struct Row: Codable {
            var name: String
            /// The command line, with the scratch paths shortened to FILE.
            var command: String
            /// From posix_spawn to waitpid returning, every run.
            var nanoseconds: Summary
            /// Each run's time over flock(1)'s run of the same round: the pairs share
            /// whatever load the machine had at that moment.
            var pairedRatioToFlock: Summary
        }
        /// The binaries measured, by path.
        var rvfLock: String
        var flock: String
        var rounds: Int
        /// rvf-lock's binary as installed (its page cache as the install left it).
        var rows: [Row]
        /// Then again, once rvf-lock's binary was dropped from the page cache and read
        /// back by `execve`'s page faults, as after a reboot: flock(1) and `rvf-lock exec`.
        var afterDrop: [Row]?
        /// Of rvf-lock's binary's pages, how many were still cached after the drop, of how many.
        var pagesLeftAfterDrop: Int?
        var pagesInBinary: Int?
    }

    /// Issue 8: one holder and several waiting wrapper processes, each running a
    /// command that stamps its first and last output; the gap between one
    /// command's last stamp and the next command's first.
    struct CommandHandoff: Codable {
        var name: String
        var command: String
        var waiters: Int
        var holdMicroseconds: UInt64
        var seconds: Double
        /// Commands that ran, warm-up and wind-down included.
        var commands: Int
        var gapNanoseconds: Summary
        /// A command that began while another was still running: 0 unless the wrapper is broken.
        var overlaps: Int
    }

    struct Waiting: Codable {
        var seconds: Double
        var cpuNanoseconds: UInt64
        var fractionOfCore: Double
    }

    struct Recovery: Codable {
        var trials: Int
        var nanoseconds: Summary
        var referenceNanoseconds: Double?
        var referenceNote: String
    }

    struct Heartbeat: Codable {
        var label: String
        var intervalMilliseconds: Int?
        var seconds: Double
        var cpuNanoseconds: UInt64
        var writeCalls: UInt64
        var writtenCharacters: UInt64
        var storageBytes: UInt64
        var stillHeld: Bool
        /// Net of the idle control, extrapolated from `seconds` to one hour.
        var cpuMillisecondsPerHour: Double
        var writeCallsPerHour: Double
        var storageBytesPerHour: Double
    }

    var profile: Profile
    var command: String
    var machine: Machine
    var goals: [Goal] = []
    var uncontended: Uncontended?
    /// Item 1 again on tmpfs, where fsync costs nothing: what the code costs besides the disk.
    var uncontendedInMemory: Uncontended?
    var handoff: [Handoff] = []
    var contention: [Contention] = []
    var waiting: Waiting?
    var recovery: Recovery?
    var heartbeat: [Heartbeat] = []
    var commandStart: CommandStart?
    var commandHandoff: [CommandHandoff] = []
    var notes: [String] = []
}
