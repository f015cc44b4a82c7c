import ArgumentParser
import RVFLock
import RVFLockCommandLine

/// `rvf-lock wait`: wait until the lock could be taken, without taking it.
struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until the lock of FILE is free or stale, without taking it.",
        discussion: """
            Returns as soon as no live writer holds FILE.lock: it is absent, or stale \
            (the next writer removes it). Another writer may take the lock right \
            after; use `exec` to run something under the lock.

            Waiting, it says who holds the lock on standard error when that is a \
            terminal (or with -v); with -q it prints nothing at all.

            Exit status: 0 when the lock is free or stale; 75 when -w SECONDS passed \
            first; 64 usage (including a FILE ending in .lock); 66 bad FILE or lock \
            path; 69 no file locks on its file system; 70 an unexpected system \
            error; 73 the lock file's name is too long; 77 no permission.

            Examples:
              rvf-lock wait data.rvf && cp data.rvf backup.rvf
              rvf-lock wait -w 30 data.rvf || echo "still locked after 30 s"
            """
    )

    // .unconditional: "-w -1" reads -1 as the value, so that validate() can say what is
    // wrong with it, instead of ArgumentParser taking it for an option and reporting the value missing.
    @Option(
        name: [.customShort("w"), .customLong("wait")], parsing: .unconditional,
        help: ArgumentHelp("Wait at most SECONDS (fractions allowed); default: forever.", valueName: "SECONDS"))
    var waitSeconds: Double?

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print nothing while waiting or after.")
    var quiet = false

    @Flag(
        name: [.customShort("v"), .customLong("verbose")],
        help: "Say who holds the lock while waiting also when standard error is not a terminal (one line).")
    var verbose = false

    @OptionGroup var dataFile: DataFileArgument

    func validate() throws {
        guard !(quiet && verbose) else { throw ValidationError("-q and -v contradict each other; give one of them") }
        if let waitSeconds {
            do throws(UsageError) { _ = try SecondsArgument.checkedWait(waitSeconds) } catch { throw ValidationError(error.message) }
        }
    }

    func run() throws {
        let target = try dataFile.target(for: "wait")
        // validate() keeps -w within what a Duration holds.
        let timeout: Duration? = waitSeconds.map { .seconds($0) }
        let reporter = WaitReporter(lockFile: target.lock.lockFile, quiet: quiet, verbose: verbose, timeout: timeout)
        let status: LockStatus
        do throws(LockError) {
            status = try target.lock.waitUntilAvailable(timeout: timeout, onProgress: reporter.callback)
            reporter.finish()
        } catch {
            reporter.finish()
            if quiet && error.code == .timedOut { throw ExitCode(ExitStatus.temporaryFailure) }
            var message: String?
            if error.code == .timedOut, let timeout {
                message = LockAdvice.timedOut(error, current: try? target.lock.status(), waited: timeout)
            }
            throw CommandFailure(error, message: message).reported()
        }
        guard !quiet else { return }
        switch status {
        case .free: StandardError.line("\(target.lock.lockFile) is free")
        default: StandardError.line("\(target.lock.lockFile) is \(status); the next writer removes it")
        }
    }
}
