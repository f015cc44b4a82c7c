import ArgumentParser
import RVFLock
import RVFLockCommandLine
import RVFLockSelftest
import SystemPackage

/// The hidden `_selftest-helper` subcommand: the other processes of `rvf-lock selftest`.
///
/// `flock()` exclusion and file events must be seen between two processes
/// (NFS emulates `flock()` with POSIX locks, which never conflict within one
/// process), so selftest starts copies of itself:
///
/// - `hold-flock PATH ex|sh`: takes `flock()` on PATH, prints `held` (or
///   `refused ERRNO`), and keeps it until its standard input closes.
/// - `touch PATH`: creates PATH, writes and closes it, removes it; prints `done`
///   (or `failed CALL: ERRNO`).
/// - `contend DATAFILE LOG COUNTER UNTIL ABANDON_AT named|unnamed INDEX`: one
///   worker of the contention run (see ``ContentionRun``).
///
/// Each first asks the kernel to kill it when selftest dies, so none outlives the run.
struct SelftestHelperCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: SelftestSystem.helperCommandName,
        abstract: "Internal: a second process for `selftest`.",
        shouldDisplay: false
    )

    @Argument(help: "The pid of the rvf-lock selftest that started this helper.")
    var parentPID: Int32

    @Argument(help: "hold-flock, touch or contend.")
    var mode: String

    @Argument(help: "The mode's arguments.")
    var arguments: [String] = []

    func run() throws {
        guard SelftestSystem.tieToParent(parentPID) else { throw ExitCode(ExitStatus.software) }
        switch (mode, arguments.count) {
        case ("hold-flock", 2):
            holdFlock(path: arguments[0], exclusive: arguments[1] == "ex")
        case ("touch", 1):
            touch(path: arguments[0])
        case ("contend", 7):
            guard let until = UInt64(arguments[3]), let abandonAt = UInt64(arguments[4]), let index = Int(arguments[6]) else {
                throw ValidationError("bad contend arguments: \(arguments)")
            }
            let worker = ContentionWorker(
                dataFile: arguments[0], logFile: arguments[1], counterFile: arguments[2], until: until,
                abandonAt: abandonAt == 0 ? nil : abandonAt, namedTemporaries: arguments[5] == "named", index: index)
            let status = worker.run()
            if status != ExitStatus.success { throw ExitCode(status) }
        default:
            throw ValidationError("unknown helper mode \(mode) with \(arguments.count) arguments")
        }
    }

    private func holdFlock(path: String, exclusive: Bool) {
        let descriptor: FileDescriptor
        do throws(ProbeFailure) {
            descriptor = try SelftestSystem.open(path, flags: SelftestSystem.readWrite)
        } catch {
            StandardOutput.line("failed \(error)")
            return
        }
        if let refused = SelftestSystem.tryFlock(descriptor, exclusive ? SelftestSystem.flockExclusive : SelftestSystem.flockShared) {
            StandardOutput.line("refused \(refused)")
        } else {
            StandardOutput.line("held")
        }
        SelftestSystem.waitForEndOfInput()
        SelftestSystem.close(descriptor)
    }

    private func touch(path: String) {
        do throws(ProbeFailure) {
            let descriptor = try SelftestSystem.open(path, flags: SelftestSystem.createExclusively)
            try SelftestSystem.writeAll(descriptor, Array("rvf-lock selftest\n".utf8))
            SelftestSystem.close(descriptor)
            try SelftestSystem.unlink(path)
            StandardOutput.line("done")
        } catch {
            StandardOutput.line("failed \(error)")
        }
    }
}
