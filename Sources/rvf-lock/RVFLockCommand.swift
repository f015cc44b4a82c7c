import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
            readers never take it. Messages go to standard error; standard output \
            belongs to the command run by `exec`, to `status` and to `selftest`.

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
        let arguments = CommandLine.arguments
        if arguments.count > 2, arguments[1] == "exec", let options = ExecOptions(fastParsing: arguments.dropFirst(2)) {
            let status = ExecRunner(options).run()
            #if canImport(Glibc)
            Glibc.exit(status)
            #else
            Darwin.exit(status)
            #endif
        }
        main(nil)
    }
}
