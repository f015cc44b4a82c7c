import ArgumentParser
import RVFLock
import RVFLockCommandLine
import SystemPackage
import RVFLockSelftest

/// `rvf-lock selftest`: can the RVF lock be trusted on the file system of DIR?
///
/// In the manner of Lucene's LockStressTest: the file system's kind and what the
/// protocol relies on there, each probed bare and between real processes, then a
/// short contention of worker processes taking the real lock through the library
/// while a verifier looks for two holders at once. Everything happens in a
/// scratch directory inside DIR, removed at the end, also after a failed check
/// or SIGINT, SIGTERM, SIGHUP.
struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check whether the RVF lock can be trusted on the file system of DIR.",
        discussion: """
            Reports the file system of DIR (default: the current directory) and \
            checks, between real processes, what the lock relies on there: O_TMPFILE \
            or named temporary files, link/linkat failing with EEXIST on a taken \
            name, flock() excluding another process and released when its holder \
            dies, flock() on a read-only descriptor, file events, birth times, and \
            the sync policy in force. Then N processes contend for the lock of a \
            scratch data file for SECONDS seconds, one of them abandoning it \
            once as a crash would, while a verifier looks for two holders at once. \
            One line per check (ok, FAILED, not available), then a verdict. Works in \
            a scratch directory .rvf-lock-selftest.* inside DIR, removed at the end, \
            also when a check fails or rvf-lock is interrupted.

            Exit status: 0 the lock can be trusted in DIR; 69 the file system cannot \
            support the lock (no hard links, flock refused or not excluding other \
            processes); 1 another check failed; 64 usage; 66 DIR missing or not a \
            directory; 73 DIR on a read-only or full file system; 77 no permission to \
            create files in DIR; 128 + N interrupted by signal N.

            With --json, prints one JSON object instead: directory, file_system, \
            checks, contention, trusted, verdict, exit_status.

            Examples:
              rvf-lock selftest /srv/shared/data
              rvf-lock selftest --processes 8 --seconds 10 .
              rvf-lock selftest --json /mnt/nfs | jq .verdict
            """
    )

    @Option(
        name: [.customShort("p"), .customLong("processes")],
        help: ArgumentHelp("How many processes contend for the lock (2 to 64).", valueName: "N"))
    var processes = 4

    @Option(
        name: [.customShort("s"), .customLong("seconds")],
        help: ArgumentHelp("How long they contend (fractions allowed, up to 3600).", valueName: "SECONDS"))
    var seconds = 3.0

    @Flag(help: "Print one JSON object instead of lines.")
    var json = false

    @Argument(
        help: ArgumentHelp("The directory whose file system to check; default: the current directory.", valueName: "DIR"),
        completion: .directory)
    var directory = "."

    func validate() throws {
        guard (2...64).contains(processes) else {
            throw ValidationError("--processes takes a number from 2 to 64, not \(processes)")
        }
        do throws(UsageError) {
            _ = try SecondsArgument.checked(seconds, option: "--seconds", range: 0.1...3600, example: "--seconds 2.5")
        } catch {
            throw ValidationError(error.message)
        }
        guard !directory.isEmpty else { throw ValidationError("DIR is empty; name a directory, or leave it out for the current one") }
    }

    func run() throws {
        SelftestSystem.reserveStandardDescriptors()
        SelftestSystem.installInterruptionHandlers()
        var directory = self.directory
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }

        switch SelftestSystem.kind(of: directory) {
        case .directory:
            break
        case .missing:
            throw CommandFailure(ExitStatus.noInput, "\(directory) does not exist; name an existing directory").reported()
        case .notADirectory(let kind):
            throw CommandFailure(ExitStatus.noInput, "\(directory) is a \(kind), not a directory; name the directory of your data files")
                .reported()
        case .inaccessible(let error):
            let status = SelftestSystem.meansNoPermission(error) ? ExitStatus.noPermission : ExitStatus.noInput
            throw CommandFailure(status, "cannot reach \(directory): \(SelftestSystem.errnoName(error)); check its permissions").reported()
        }
        let fileSystem: LockFileSystem
        do throws(LockError) {
            fileSystem = try LockFileSystem(containing: .init(directory))
        } catch {
            throw CommandFailure(error).reported()
        }

        let report = SelftestReport(directory: directory, json: json)
        report.fileSystem = fileSystem
        let scratchName = ".rvf-lock-selftest.\(SelftestSystem.processID).\(String(UInt32.random(in: .min ... .max), radix: 16))"
        let scratch = (directory == "/" ? "" : directory) + "/" + scratchName
        do throws(ProbeFailure) {
            try SelftestSystem.makeDirectory(scratch)
        } catch {
            throw ExitCode(refuse(directory, report: report, failure: error))
        }
        report.add(.ok("directory", "directory", "\(directory) is writable: this run works in \(scratchName) inside it"))

        var interruption: Interrupted?
        do throws(Interrupted) {
            try runChecks(in: scratch, fileSystem: fileSystem, report: report)
        } catch {
            interruption = error
        }
        // Every helper process has been killed and reaped by now (they end with the scope that started them).
        let leftovers = SelftestSystem.removeTree(scratch)
        if let interruption {
            let cleaned =
                leftovers.isEmpty ? "removed its files from \(directory)" : "could not remove \(leftovers.joined(separator: ", "))"
            StandardError.line("selftest interrupted by \(SelftestSystem.signalName(interruption.signal)); \(cleaned)")
            throw ExitCode(ExitStatus.signalBase + interruption.signal)
        }
        if !leftovers.isEmpty {
            report.add(.failed("cleanup", "cleanup", "could not remove \(leftovers.joined(separator: ", ")); remove them by hand"))
        }
        let verdict = report.verdict()
        report.finish(with: verdict)
        if verdict.exitStatus != ExitStatus.success { throw ExitCode(verdict.exitStatus) }
    }

    private func runChecks(in scratch: String, fileSystem: LockFileSystem, report: SelftestReport) throws(Interrupted) {
        let checks = SelftestChecks(scratch: scratch, fileSystem: fileSystem)
        report.add(checks.fileSystemCheck())
        for check in checks.linkChecks() { report.add(check) }
        try SelftestSystem.checkInterrupted()
        for check in try checks.flockChecks() { report.add(check) }
        report.add(checks.readOnlyFlockCheck())
        report.add(try checks.fileEventsCheck())
        report.add(checks.birthTimeCheck())
        report.add(checks.syncCheck())
        try SelftestSystem.checkInterrupted()
        let (contention, summary) = try ContentionRun(scratch: scratch, processes: processes, seconds: seconds).run()
        report.contention = summary
        report.add(contention)
    }

    /// Reports that DIR cannot be tested because nothing can be created there, and returns the exit status.
    private func refuse(_ directory: String, report: SelftestReport, failure: ProbeFailure) -> Int32 {
        let status: Int32
        let verdict: String
        if SelftestSystem.meansNoPermission(failure.errno) {
            status = ExitStatus.noPermission
            verdict =
                "cannot test \(directory): this user may not create files there, so cannot lock files there either; "
                + "run selftest as a user who writes the data files"
        } else if SelftestSystem.meansCannotCreate(failure.errno) {
            status = ExitStatus.cannotCreate
            verdict =
                failure.errno == SelftestSystem.readOnlyFileSystem
                ? "cannot test \(directory): its file system is read-only, so no writer can lock files there"
                : "cannot test \(directory): its file system is full or over quota; free some space and try again"
        } else {
            status = ExitStatus.checkFailed
            verdict = "cannot test \(directory): creating a scratch directory there failed (\(failure))"
        }
        report.add(.failed("directory", "directory", "cannot create files in \(directory) (\(failure))"))
        report.finish(with: SelftestVerdict(trusted: false, exitStatus: status, text: verdict))
        return status
    }
}
