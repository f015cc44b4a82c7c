#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRVFLockShims

/// Starts COMMAND so that it cannot outlive the lock unnoticed: killed by the
/// kernel if rvf-lock dies, holding the lock's descriptor, and only once rvf-lock
/// is sure to be its parent. The work is done in C (`rvf_spawn_command`), with no
/// second program start in between.
enum CommandSpawner {
    /// Starts `command` and returns its pid.
    ///
    /// Call it from the main thread: the kernel sends the parent-death signal when
    /// the *thread* that started the child exits, and the main thread lives exactly
    /// as long as rvf-lock.
    ///
    /// - Parameters:
    ///   - lockDescriptor: the lock's descriptor, which COMMAND inherits (and finds in `RVF_LOCK_FD`).
    ///   - newProcessGroup: whether COMMAND gets a process group of its own.
    ///   - resetSignals: signals COMMAND starts with at their default action even
    ///     if rvf-lock ignores them.
    ///   - file: FILE as given, for the hint when COMMAND is shell syntax in one word.
    static func spawn(
        _ command: [String], file: String, lockDescriptor: CInt, newProcessGroup: Bool, resetSignals: [CInt]
    ) throws(CommandFailure) -> pid_t {
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var failedStep: CInt = 0
        var failureErrno: CInt = 0
        let child = argv.withUnsafeBufferPointer { arguments in
            arguments.withMemoryRebound(to: UnsafePointer<CChar>?.self) { arguments in
                resetSignals.withUnsafeBufferPointer { signals in
                    rvf_spawn_command(arguments.baseAddress, lockDescriptor, ExecOptions.descriptorVariable, SIGKILL,
                                      newProcessGroup ? 1 : 0, signals.baseAddress, CInt(signals.count),
                                      &failedStep, &failureErrno)
                }
            }
        }
        guard child < 0 else { return child }
        throw failure(command, file: file, step: failedStep, errno: failureErrno)
    }

    private static func failure(_ command: [String], file: String, step: CInt, errno error: CInt) -> CommandFailure {
        let name = command[0]
        let reason = String(cString: strerror(error))
        switch UInt32(step) {
        case RVF_SPAWN_EXEC.rawValue where error == ENOENT:
            let what = name.contains("/") ? "no such file" : "command not found in PATH"
            return CommandFailure(ExitStatus.commandNotFound, "\(name): \(what)\(shellHint(command, file: file))")
        case RVF_SPAWN_EXEC.rawValue:
            return CommandFailure(ExitStatus.cannotExecute,
                                  "\(name): cannot execute (\(reason)); check that it is an executable file")
        case RVF_SPAWN_PARENT_DEATH_SIGNAL.rawValue:
            return CommandFailure(ExitStatus.unavailable,
                                  "cannot tie \(name) to rvf-lock's life (prctl PR_SET_PDEATHSIG: \(reason)); "
                                      + "not running it, since it could outlive the lock")
        case RVF_SPAWN_PARENT_GONE.rawValue:
            return CommandFailure(ExitStatus.software, "rvf-lock was not \(name)'s parent any more; not running it without the lock")
        case RVF_SPAWN_PROCESS_GROUP.rawValue:
            return CommandFailure(ExitStatus.software, "cannot start \(name) in a process group of its own (setpgid: \(reason))")
        case RVF_SPAWN_INHERIT.rawValue:
            return CommandFailure(ExitStatus.software, "cannot pass the lock's descriptor to \(name) (fcntl: \(reason))")
        default:
            return CommandFailure(ExitStatus.software,
                                  "cannot start \(name) (clone: \(reason)); the system may be out of processes or memory")
        }
    }

    /// For a COMMAND that is a whole shell command line in one word (`"echo hi >> d.rvf"`,
    /// as `flock FILE -c` takes it), how to run it: rvf-lock runs a program, not a shell.
    static func shellHint(_ command: [String], file: String) -> String {
        guard command.count == 1, command[0].contains(where: { " \t;|&<>$`'\"*?(){}".contains($0) }) else { return "" }
        let quoted = "'" + command[0].replacing("'", with: "'\\''") + "'"
        return "; COMMAND is a program and its arguments, not a shell command line: "
            + "to run shell syntax, use sh -c (rvf-lock exec \(file) sh -c \(quoted))"
    }
}
