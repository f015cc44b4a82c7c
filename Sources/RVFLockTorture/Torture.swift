import ArgumentParser

/// `rvflock-torture`: many worker processes contend for one RVF writer lock for a
/// while, faults are injected, and the run is judged from what the workers logged
/// and wrote. Exits non-zero when two holders ever overlapped.
///
/// The same executable is re-invoked as the workers and the readers (hidden
/// subcommands), so the harness needs nothing but itself.
@main
struct Torture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rvflock-torture",
        abstract: "Run worker processes against one RVF writer lock with injected faults, and verify that no two holders overlapped.",
        subcommands: [
            RunCommand.self, WorkerCommand.self, ReaderCommand.self, ExecWorkerCommand.self, ExecWriterCommand.self,
            BreakerCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )
}
