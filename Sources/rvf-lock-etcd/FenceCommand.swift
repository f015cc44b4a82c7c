#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RVFLockCommandLine
import RVFLockEtcd
import SystemPackage

/// `rvf-lock-etcd fence`: the fencing helper from the shell.
struct FenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fence",
        abstract: "Refuse a write to FILE fenced with an older token than the one stamped on it.",
        discussion: """
            Under rvf-lock exec --etcd, the command finds its fencing token in \
            RVF_LOCK_FENCE. This takes a short exclusive flock() of FILE, refuses \
            (exit 70, nothing run) if FILE's extended attribute user.rvf.fence holds \
            a larger token, stamps TOKEN there, and runs COMMAND (if given) while \
            still holding the flock(), so that no newer writer's fenced write comes \
            between the check and COMMAND's write. Without COMMAND it only checks \
            and stamps.

            Example:
              rvf-lock exec --etcd http://etcd-1:2379 data.rvf -- \\
                rvf-lock-etcd fence data.rvf -- ./append-records data.rvf

            Exit status: COMMAND's, or 0; 64 usage; 70 refused (a newer holder has \
            written: this writer's lock was lost); 69 FILE's file system keeps no \
            user extended attributes; 66 FILE cannot be opened.
            """
    )

    @Option(help: ArgumentHelp("The fencing token (default: $RVF_LOCK_FENCE).", valueName: "TOKEN"))
    var token: Int64?

    @Argument(help: ArgumentHelp("The data file.", valueName: "FILE"))
    var file: String

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("A command to run holding the check.", valueName: "COMMAND"))
    var command: [String] = []

    func run() throws {
        guard let token = token ?? EtcdSettings.environment("RVF_LOCK_FENCE").flatMap({ Int64($0) }) else {
            throw ExitCode(
                CommandFailure(
                    ExitStatus.usage,
                    "no fencing token: give --token TOKEN, or run under "
                        + "rvf-lock exec --etcd, which sets RVF_LOCK_FENCE"
                ).report())
        }
        let command = command.first == "--" ? Array(command.dropFirst()) : command
        let status: Int32
        do {
            status = try FencedDataFile(file).write(token: token) { (_: FileDescriptor) -> Int32 in
                command.isEmpty ? ExitStatus.success : Self.runToCompletion(command)
            }
        } catch let error as FencingError {
            let code: Int32 =
                switch error.code {
                case .superseded: ExitStatus.software
                case .unsupported: ExitStatus.unavailable
                default: 66
                }
            throw ExitCode(CommandFailure(code, error.description).report())
        }
        throw ExitCode(status)
    }

    /// Runs `command` (searched in PATH) and returns its status as a shell reports it.
    private static func runToCompletion(_ command: [String]) -> Int32 {
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let result = posix_spawnp(&child, command[0], nil, nil, argv, environ)
        guard result == 0 else {
            return CommandFailure(
                result == ENOENT ? 127 : 126,
                "\(command[0]): \(String(cString: strerror(result)))"
            ).report()
        }
        var status: CInt = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
