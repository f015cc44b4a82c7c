import ArgumentParser
import RVFLock
import RVFLockCommandLine

/// `rvf-lock exec`: run a command while holding the lock.
///
/// Most command lines never reach this type: ``RVFLockCommand/main()`` parses
/// them with ``ExecOptions/init(fastParsing:)``. It parses the rest (and shows
/// `--help`), and both run ``ExecRunner``.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run COMMAND while holding the writer lock of FILE.",
        usage:
            "rvf-lock exec [-w SECONDS | -n] [-E CODE] [-q | -v] [--kill-after SECONDS] [--kill-leftovers] [--allow-lock-suffix] FILE [--] COMMAND [ARGS...]",
        discussion: """
            Takes FILE.lock (waiting for it as long as needed, unless -w or -n says \
            otherwise), runs COMMAND with the lock held and kept fresh, and exits with \
            COMMAND's status (128 + the signal number if COMMAND died of a signal). \
            Options go before FILE; everything after FILE (and an optional --) is \
            COMMAND and its arguments.

            No process that COMMAND starts writes without the lock: COMMAND inherits \
            the lock's descriptor (its number is in RVF_LOCK_FD), which keeps the \
            lock held while any process holding it lives; rvf-lock releases the \
            lock only when COMMAND and every process it started have ended (it \
            names leftovers on standard error while it waits for them); if the lock \
            is removed or replaced meanwhile, they all get SIGTERM, then SIGKILL \
            after --kill-after SECONDS, and rvf-lock exits 70. If rvf-lock is \
            killed, COMMAND and what it started run to completion, holding the \
            lock: the lock record names rvf-lock's keeper, a second rvf-lock \
            process that lives until the last of them has ended.

            SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGALRM sent to \
            rvf-lock are passed on to COMMAND. Outside a terminal's job COMMAND has \
            a process group of its own, so a signal for rvf-lock's whole group \
            reaches it once, through rvf-lock. It can still arrive twice when \
            rvf-lock is a terminal's job and another program signals the whole \
            group (timeout 60 rvf-lock exec ... at a prompt: use timeout \
            --foreground), or when a service manager signals every process of a \
            service (systemd's KillMode=control-group: use KillMode=mixed).

            Waiting, it says who holds the lock on standard error when that is a \
            terminal (or with -v); -q silences that and every other notice but \
            errors. A FILE whose name ends in .lock is refused as a lock file given \
            by mistake (its lock would be FILE.lock.lock), unless --allow-lock-suffix.

            Exit status: COMMAND's (128 + N if it died of signal N); 75 (or -E CODE) \
            when the lock cannot be had; 64 usage; 66 bad FILE or lock path; 69 the \
            file system or system cannot support the lock; 70 lock lost, or an \
            unexpected system error; 73 the lock file cannot be created (read-only \
            file system, disk full, name too long); 77 no permission; 126/127 COMMAND not \
            executable / not found.

            Examples:
              rvf-lock exec data.rvf ./append-records data.rvf
              rvf-lock exec -w 2.5 -E 0 -q data.rvf sh -c 'compact data.rvf'
              rvf-lock exec --kill-leftovers data.rvf -- ./import --daemonize
            """
    )

    // .unconditional: "-w -1" reads -1 as the value, so that validate() can say what is
    // wrong with it, instead of ArgumentParser taking it for an option and reporting the value missing.
    @Option(
        name: [.customShort("w"), .customLong("wait")], parsing: .unconditional,
        help: ArgumentHelp("Wait at most SECONDS for the lock (fractions allowed); default: forever.", valueName: "SECONDS"))
    var waitSeconds: Double?

    @Flag(name: [.customShort("n"), .customLong("no-wait")], help: "Do not wait: fail at once if the lock is taken.")
    var noWait = false

    @Option(
        name: [.customShort("E"), .customLong("conflict-exit-code")], parsing: .unconditional,
        help: ArgumentHelp("Exit with CODE instead of 75 when the lock cannot be had.", valueName: "CODE"))
    var conflictExitCode: Int32 = ExitStatus.temporaryFailure

    @Flag(
        name: [.customShort("q"), .customLong("quiet")],
        help: "Print nothing while waiting (for the lock, or for leftover processes), and nothing when the lock cannot be had.")
    var quiet = false

    @Flag(
        name: [.customShort("v"), .customLong("verbose")],
        help: "Say who holds the lock while waiting also when standard error is not a terminal (one line).")
    var verbose = false

    @Flag(
        name: .customLong("allow-lock-suffix"),
        help: "FILE really is a data file whose name ends in .lock (without this, such a FILE is refused as a lock file).")
    var allowLockSuffix = false

    @Option(
        name: .customLong("kill-after"),
        help: ArgumentHelp(
            "Seconds between SIGTERM and SIGKILL when processes must stop (lost lock, --kill-leftovers).",
            valueName: "SECONDS"))
    var killAfterSeconds: Double = ExecOptions.defaultKillAfterSeconds

    @Flag(
        name: .customLong("kill-leftovers"),
        help: "When COMMAND ends, stop the processes it left running (SIGTERM, then SIGKILL) instead of waiting for them.")
    var killLeftovers = false

    @Option(
        name: .customLong("etcd"),
        help: ArgumentHelp(
            "Take FILE's lease on this etcd cluster (client URLs, comma-separated) before FILE.lock; "
                + "COMMAND finds the fencing token in RVF_LOCK_FENCE. Default: $RVF_LOCK_ETCD.",
            valueName: "ENDPOINTS"))
    var etcd: String?

    @Argument(
        help: ArgumentHelp("The data file (data.rvf); its lock is FILE.lock.", valueName: "FILE"),
        completion: .file())
    var file: String

    @Argument(
        parsing: .captureForPassthrough,
        help: ArgumentHelp("The command to run with the lock held, and its arguments.", valueName: "COMMAND"),
        completion: .custom(CommandCompletion.candidates))
    var command: [String] = []

    /// The options as ``ExecRunner`` takes them.
    func options() throws(UsageError) -> ExecOptions {
        let options = ExecOptions(
            waitSeconds: waitSeconds, noWait: noWait, conflictExitCode: conflictExitCode, quiet: quiet,
            verbose: verbose, allowsLockSuffix: allowLockSuffix, killAfterSeconds: killAfterSeconds, killLeftovers: killLeftovers,
            file: file, command: try ExecOptions.command(after: file, command), etcd: etcd)
        return try options.validated()
    }

    /// What ArgumentParser makes of `arguments` (those after `exec`): the reference
    /// that ``ExecOptions/init(fastParsing:)`` is tested against.
    static func options(parsing arguments: [String]) throws -> ExecOptions {
        try parse(arguments).options()
    }

    func validate() throws {
        do throws(UsageError) { _ = try options() } catch { throw ValidationError(error.message) }
    }

    func run() throws {
        let options: ExecOptions
        do throws(UsageError) { options = try self.options() } catch { throw ValidationError(error.message) }
        throw ExitCode(ExecRunner(options).run())
    }
}
