import ArgumentParser
import Glibc
import RVFLockCommandLine

/// `rvf-lock`: the RVF writer lock of a data file, from the shell.
///
/// Each subcommand lives in its own file; ``ExitStatus`` lists every exit code,
/// and `Documentation/rvf-lock.md` documents them for users.
@main
struct RVFLockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rvf-lock",
        abstract: "Take, inspect, wait for and break the RVF writer lock of a data file.",
        discussion: """
            FILE is always the data file (data.rvf); its lock is the file FILE.lock \
            beside it (data.rvf.lock). At most one writer holds the lock at a time; \
            readers never take it. A FILE whose name ends in .lock is refused as a \
            lock file given by mistake, unless --allow-lock-suffix says it really is a \
            data file. Messages go to standard error, each starting with "rvf-lock: "; \
            standard output belongs to the command run by `exec`, to `status` and to \
            `selftest`.

            Examples:
              rvf-lock exec data.rvf ./append-records data.rvf
              rvf-lock status data.rvf
              rvf-lock wait -w 30 data.rvf
              rvf-lock break data.rvf
              rvf-lock selftest /srv/data
            """,
        // Unreleased until a tag says otherwise: the version the first release will carry,
        // marked as a development build (README.md depends on `branch: "main"` until then).
        version: "0.1.0-dev",
        subcommands: [
            ExecCommand.self,
            StatusCommand.self,
            WaitCommand.self,
            BreakCommand.self,
            SelftestCommand.self,
            SelftestHelperCommand.self,
        ]
    )

    /// Runs `exec` command lines of the usual forms without ArgumentParser, whose
    /// reflection over the command types costs about a millisecond at every start
    /// (more than the rest of taking the lock); everything else goes to ArgumentParser.
    static func main() {
        let arguments = CommandArguments.separatingAttachedValues(Array(CommandLine.arguments.dropFirst()))
        if arguments.count > 1, arguments[0] == "exec", let options = ExecOptions(fastParsing: arguments.dropFirst()) {
            exit(ExecRunner(options).run())
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            exit(ExitStatus.success)
        } catch {
            exit(reporting: error)
        }
    }

    /// Bare `rvf-lock`: a usage error, as for any other missing argument.
    func run() throws {
        throw ValidationError("name a command: exec, status, wait, break or selftest (rvf-lock --help describes them)")
    }

    /// Prints what ArgumentParser has to say about `error` (help and versions on
    /// standard output; errors on standard error, with the prefix every other
    /// message of the tool has), and exits with its status.
    private static func exit(reporting error: any Error) -> Never {
        let status = exitCode(for: error).rawValue
        let text = fullMessage(for: error)
        if status == ExitStatus.success {
            if !text.isEmpty { StandardOutput.line(text) }
        } else if !text.isEmpty {
            let errorPrefix = "Error: "
            StandardError.line(text.hasPrefix(errorPrefix) ? String(text.dropFirst(errorPrefix.count)) : text)
        }
        exit(status)
    }

    private static func exit(_ status: Int32) -> Never {
        #if canImport(Glibc)
        Glibc.exit(status)
        #else
        Darwin.exit(status)
        #endif
    }
}
