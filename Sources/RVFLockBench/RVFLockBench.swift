import ArgumentParser

/// The benchmark tool: `rvflock-bench [run] --profile quick|full`.
///
/// Multi-process measurements need real processes; they are this same
/// executable, re-invoked with the hidden `worker` subcommand.
@main
struct RVFLockBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rvflock-bench",
        abstract:
            "Measures RVFLock against kernel flock(2), the system-call floors and the reference implementation, and rvf-lock against flock(1).",
        subcommands: [Run.self, Worker.self],
        defaultSubcommand: Run.self
    )
}
