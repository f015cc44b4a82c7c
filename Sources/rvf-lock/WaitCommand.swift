import ArgumentParser
import RVFLock

/// `rvf-lock wait`: wait until the lock could be taken, without taking it.
struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until the lock of FILE is free or stale, without taking it.",
        discussion: """
            Returns as soon as no live writer holds FILE.lock: it is absent, or stale \
            (the next writer removes it). Another writer may take the lock right \
            after; use `exec` to run something under the lock.

            Exit status: 0 when the lock is free or stale; 75 when -w SECONDS passed \
            first; 64 usage; 66 bad FILE or lock path; 69 no file locks on its file \
            system; 70 an unexpected system error; 77 no permission.

            Examples:
              rvf-lock wait data.rvf && cp data.rvf backup.rvf
              rvf-lock wait -w 30 data.rvf || echo "still locked after 30 s"
            """
    )

    // .unconditional: "-w -1" reads -1 as the value, so that validate() can say what is
    // wrong with it, instead of ArgumentParser taking it for an option and reporting the value missing.
    @Option(name: [.customShort("w"), .customLong("wait")], parsing: .unconditional,
            help: ArgumentHelp("Wait at most SECONDS (fractions allowed); default: forever.", valueName: "SECONDS"))
    var waitSeconds: Double?

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print nothing while waiting or after.")
    var quiet = false

    @Argument(help: ArgumentHelp("The data file (data.rvf); its lock is FILE.lock.", valueName: "FILE"))
    var file: String

    func validate() throws {
        if let waitSeconds, !(waitSeconds.isFinite && waitSeconds >= 0) {
            throw ValidationError("-w takes a number of seconds, 0 or more (e.g. -w 2.5), not \(waitSeconds)")
        }
    }

    func run() throws {
        let target: LockTarget
        do throws(CommandFailure) { target = try LockTarget(file) } catch { throw error.reported() }
        let timeout: Duration? = waitSeconds.map { .seconds($0) }
        let reporter = WaitReporter(lockFile: target.lock.lockFile, quiet: quiet, timeout: timeout)
        let status: LockStatus
        do throws(LockError) {
            status = try target.lock.waitUntilAvailable(timeout: timeout, onProgress: reporter.report)
            reporter.finish()
        } catch {
            reporter.finish()
            let failure = CommandFailure(error)
            if quiet && error.code == .timedOut { throw ExitCode(failure.exitStatus) }
            throw failure.reported()
        }
        guard !quiet else { return }
        switch status {
        case .free: StandardError.line("\(target.lock.lockFile) is free")
        default: StandardError.line("\(target.lock.lockFile) is \(status); the next writer removes it")
        }
    }
}
