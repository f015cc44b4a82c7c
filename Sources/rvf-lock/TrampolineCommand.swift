#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import CRVFLockShims

/// The hidden `_trampoline` subcommand: what `exec` spawns, to become COMMAND
/// only once COMMAND cannot outlive rvf-lock.
///
/// `rvf-lock _trampoline PARENTPID -- COMMAND ARGS...` asks the kernel to SIGKILL
/// it when its parent dies (Linux `PR_SET_PDEATHSIG`, kept across `execve`),
/// checks that its parent is still the rvf-lock that holds the lock (it may have
/// died before the request), then replaces itself with COMMAND.
struct TrampolineCommand: ParsableCommand {
    static let name = "_trampoline"

    static let configuration = CommandConfiguration(
        commandName: name,
        abstract: "Internal: becomes COMMAND for `exec` once COMMAND cannot outlive rvf-lock.",
        shouldDisplay: false
    )

    @Argument(help: "The pid of the rvf-lock process that holds the lock.")
    var parentPID: Int32

    @Argument(parsing: .postTerminator, help: "The command to become.")
    var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("missing COMMAND after --") }
    }

    func run() throws {
        guard rvf_set_parent_death_signal(SIGKILL) == 0 else {
            throw CommandFailure(ExitStatus.unavailable,
                                 "cannot tie \(command[0]) to rvf-lock's life (prctl PR_SET_PDEATHSIG: "
                                     + "\(String(cString: strerror(errno)))); not running it, since it could outlive the lock"
            ).reported()
        }
        guard getppid() == parentPID else {
            throw CommandFailure(ExitStatus.software,
                                 "rvf-lock (pid \(parentPID)) ended before \(command[0]) could start; not running it without the lock"
            ).reported()
        }
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        execvp(command[0], &argv)
        let error = errno
        for pointer in argv { free(pointer) }
        let reason = String(cString: strerror(error))
        if error == ENOENT {
            let what = command[0].contains("/") ? "no such file" : "command not found in PATH"
            throw CommandFailure(ExitStatus.commandNotFound, "\(command[0]): \(what)").reported()
        }
        throw CommandFailure(ExitStatus.cannotExecute,
                             "\(command[0]): cannot execute (\(reason)); check that it is an executable file"
        ).reported()
    }
}
