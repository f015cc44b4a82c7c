import ArgumentParser
import RVFLockCommandLine

/// FILE and `--allow-lock-suffix`, as `break` and `wait` take them: one
/// declaration, so that both say the same and resolve FILE alike (``LockTarget``).
/// (`exec` declares its own: its fast parser reads FILE before COMMAND; `status`
/// takes several FILEs.)
struct DataFileArgument: ParsableArguments {
    @Flag(
        name: .customLong("allow-lock-suffix"),
        help: "FILE really is a data file whose name ends in .lock (without this, such a FILE is refused as a lock file).")
    var allowLockSuffix = false

    @Argument(
        help: ArgumentHelp("The data file (data.rvf); its lock is FILE.lock.", valueName: "FILE"),
        completion: .file())
    var file: String

    /// The lock FILE names, for `command`'s messages; a usage or path failure already reported.
    func target(for command: String) throws -> LockTarget {
        do throws(CommandFailure) {
            return try LockTarget(file, command: command, allowsLockSuffix: allowLockSuffix)
        } catch {
            throw error.reported()
        }
    }
}
