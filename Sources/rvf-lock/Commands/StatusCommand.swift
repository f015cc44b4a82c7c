import ArgumentParser
import RVFLock
import RVFLockCommandLine
import SystemPackage

/// `rvf-lock status`: the state of each lock, without taking it.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the state of the lock of each FILE, without taking it.",
        discussion: """
            Prints one line per FILE on standard output: free; held (pid, host, age, \
            writer id, whether on this host, whether alive); stale (and why); or \
            invalid (and why). A lock path that is a directory or a symbolic link \
            shows as invalid.

            Exit status: 0 when every lock is free, 1 if any is held, 2 if any is \
            stale or invalid (the worst wins). If a FILE cannot be examined, a line \
            on standard error says why and its status wins over the others: 64 an \
            empty FILE or one ending in .lock; 66 bad FILE or path; 69 no file locks on its file system; 70 an \
            unexpected system error; 73 the lock file's name is too long; 75 the lock \
            file kept changing while it was read; 77 no permission.

            With --json, prints one JSON object per FILE, each on its own line (JSON \
            Lines: `jq` reads them as they are, `jq -s` as one array, `python3 -m \
            json.tool --json-lines` too), with the fields file, lock, state (free, \
            held, stale, invalid, error), pid, hostname, timestamp_ns, age_seconds, \
            writer_id, same_host, pid_alive and reason; null where a field does not \
            apply.

            Examples:
              rvf-lock status data.rvf
              rvf-lock status --json *.rvf | jq 'select(.state != "free")'
            """
    )

    @Flag(help: "Print one JSON object per FILE, each on its own line (JSON Lines).")
    var json = false

    @Option(
        name: .customLong("etcd"),
        help: ArgumentHelp(
            "Also show who holds each FILE's lease on this etcd cluster, its machine and fencing token "
                + "(rvf-lock-etcd status). Default: $RVF_LOCK_ETCD.", valueName: "ENDPOINTS"))
    var etcd: String?

    @Flag(
        name: .customLong("allow-lock-suffix"),
        help: "A FILE whose name ends in .lock really is a data file (without this, such a FILE is refused as a lock file).")
    var allowLockSuffix = false

    @Argument(
        help: ArgumentHelp("The data files (data.rvf); their locks are FILE.lock.", valueName: "FILE"),
        completion: .file())
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one FILE, e.g. rvf-lock status data.rvf") }
    }

    func run() throws {
        var worst = ExitStatus.success
        for file in files {
            let report = Self.report(for: file, allowsLockSuffix: allowLockSuffix)
            if report.state == "error" { StandardError.line(report.reason ?? "") }
            if json {
                StandardOutput.line(report.json)
            } else if report.state != "error" {
                StandardOutput.line(report.line)
            }
            // Errors (64 and up) outrank every lock state; among states, stale/invalid outranks held.
            worst = max(worst, report.exitStatus)
        }
        if let endpoints = EtcdCoordinator.endpoints(etcd) {
            worst = max(worst, EtcdCoordinator.showStatus(endpoints: endpoints, files: files, json: json))
        }
        if worst != ExitStatus.success { throw ExitCode(worst) }
    }

    private static func report(for file: String, allowsLockSuffix: Bool) -> LockReport {
        let lockFile = file + ".lock"
        do throws(CommandFailure) {
            let target = try LockTarget(file, command: "status", allowsLockSuffix: allowsLockSuffix, lockPathRule: .reportAsInvalid)
            do throws(LockError) {
                return LockReport(file: file, lock: target.lock.lockFile.string, status: try target.lock.status())
            } catch {
                throw CommandFailure(error)
            }
        } catch {
            return LockReport(file: file, lock: lockFile, failure: error)
        }
    }
}
