import ArgumentParser
import RVFLockCommandLine
import RVFLockEtcd

/// `rvf-lock-etcd status`: who holds each data file's lease, and who waits.
struct EtcdStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show who holds the etcd lease of each FILE, and who waits for it.",
        discussion: """
            Prints one line per FILE: free, or held by PID (PROGRAM) on HOST with its \
            fencing token, and how many writers wait. With --json, one object per \
            line with the fields file, etcd_key_prefix, etcd_state (free or held), \
            etcd_holder_hostname, etcd_holder_pid, etcd_holder_program, \
            etcd_fencing_token, etcd_lease_id, etcd_waiting; null where a field does \
            not apply. rvf-lock status --etcd prints these after the lock file's state.

            Exit status: 0 when every lease is free, 1 if any is held; 64 usage; 69 \
            the cluster cannot be reached or has no quorum.
            """
    )

    @OptionGroup var settings: EtcdSettings

    @Flag(help: "Print one JSON object per FILE, each on its own line.")
    var json = false

    @Argument(help: ArgumentHelp("The data files.", valueName: "FILE"))
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one FILE, e.g. rvf-lock-etcd status data.rvf") }
    }

    func run() async throws {
        var worst = ExitStatus.success
        for file in files {
            let line: EtcdLockLine
            let lock: EtcdWriterLock
            do {
                lock = try settings.lock(for: file)
                line = try await lock.line()
            } catch let failure as CommandFailure {
                worst = max(worst, failure.report())
                continue
            } catch {
                StandardError.line("\(error)")
                worst = max(worst, ExitStatus.of(error))
                continue
            }
            if line.holder != nil { worst = max(worst, ExitStatus.lockHeld) }
            StandardOutput.line(json ? Self.json(file: file, line: line) : Self.text(file: file, line: line))
        }
        if worst != ExitStatus.success { throw ExitCode(worst) }
    }

    static func text(file: String, line: EtcdLockLine) -> String {
        "\(file): etcd lease \(line.keyPrefix): \(line.description)"
    }

    static func json(file: String, line: EtcdLockLine) -> String {
        let holder = line.holder
        let fields: [(String, String)] = [
            ("file", JSON.string(file)),
            ("etcd_key_prefix", JSON.string(line.keyPrefix)),
            ("etcd_state", JSON.string(holder == nil ? "free" : "held")),
            ("etcd_holder_hostname", holder?.hostname.map(JSON.string) ?? JSON.null),
            ("etcd_holder_pid", holder?.pid.map { String($0) } ?? JSON.null),
            ("etcd_holder_program", holder?.program.map(JSON.string) ?? JSON.null),
            ("etcd_fencing_token", holder.map { String($0.fencingToken) } ?? JSON.null),
            ("etcd_lease_id", holder.map { JSON.string(String(UInt64(bitPattern: $0.leaseID), radix: 16)) } ?? JSON.null),
            ("etcd_waiting", String(line.waiting.count)),
        ]
        return "{" + fields.map { "\(JSON.string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }
}
