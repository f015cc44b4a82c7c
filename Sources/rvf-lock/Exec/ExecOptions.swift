import RVFLockCommandLine

/// What `rvf-lock exec` was asked to do, however its command line was parsed.
///
/// ``ExecCommand`` fills it through ArgumentParser; ``ExecOptions/init(fastParsing:)``
/// fills it without ArgumentParser for the common command lines, so that the
/// path every locked command takes costs no reflection at start-up. Both end in
/// ``validated()``, and a test checks that they agree.
struct ExecOptions: Equatable {
    var waitSeconds: Double?
    var noWait = false
    var conflictExitCode: Int32 = ExitStatus.temporaryFailure
    var quiet = false
    /// Show the waiting line off a terminal too.
    var verbose = false
    /// FILE may end in `.lock`.
    var allowsLockSuffix = false
    var killAfterSeconds: Double = ExecOptions.defaultKillAfterSeconds
    var killLeftovers = false
    var file: String
    /// COMMAND and its arguments, without the `--` that may separate them from FILE.
    var command: [String]
    /// `--etcd ENDPOINTS`: take the data file's lease on this etcd cluster first (rvf-lock-etcd holds it).
    var etcd: String?

    /// How long a command and its processes get between SIGTERM and SIGKILL.
    static let defaultKillAfterSeconds: Double = 5

    /// The name under which COMMAND finds the lock's descriptor number in its environment.
    static let descriptorVariable = "RVF_LOCK_FD"

    /// Splits what follows FILE into COMMAND, dropping one `--` right after FILE.
    ///
    /// Options go before FILE: after it, everything belongs to COMMAND, so that
    /// `rvf-lock exec data.rvf ls -l` runs `ls -l`. Without a `--`, a COMMAND that
    /// starts with `-` is taken for a misplaced option and refused.
    static func command(after file: String, _ rest: [String]) throws(UsageError) -> [String] {
        if rest.first == "--" { return Array(rest.dropFirst()) }
        if let first = rest.first, first.hasPrefix("-"), first.count > 1 {
            throw UsageError(
                "\(first) after FILE: options go before FILE, e.g. rvf-lock exec \(first) \(file) COMMAND; "
                    + "a COMMAND whose name starts with - goes after --")
        }
        return rest
    }

    /// Checks the values together; the first problem, as the user must hear it.
    func validated() throws(UsageError) -> ExecOptions {
        guard !(quiet && verbose) else { throw UsageError("-q and -v contradict each other; give one of them") }
        guard !command.isEmpty else {
            throw UsageError("missing COMMAND: put it after FILE, e.g. rvf-lock exec \(file) ./append-records")
        }
        if let waitSeconds {
            guard !noWait else { throw UsageError("-w and -n contradict each other; give one of them") }
            _ = try SecondsArgument.checkedWait(waitSeconds)
        }
        guard (0...255).contains(conflictExitCode) else {
            throw UsageError("-E takes an exit code from 0 to 255, not \(conflictExitCode)")
        }
        _ = try SecondsArgument.checked(killAfterSeconds, option: "--kill-after", range: 0...86_400, example: "--kill-after 10")
        return self
    }
}

/// A bad command line, said the way ArgumentParser's `ValidationError` says it.
struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
