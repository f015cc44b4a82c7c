#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation

/// The torture run itself (the default subcommand).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the torture test and report; exits 1 on any violation."
    )

    @Option(help: "Worker processes contending for the lock.") var workers = 8
    @Option(help: "How long to run.") var seconds = 60.0
    @Option(help: "Write the report as JSON to this file.") var json: String?
    @Option(
        help:
            "An empty or missing directory for the data file, lock and logs, kept after the run (default: a new one under /tmp, removed after a run without violations)."
    ) var dir: String?
    @Option(help: "Seed for the fault schedule and the workers' choices (default: random).") var seed: UInt64?
    @Option(
        help:
            "Faults and placements: all, none, or a list of kill,stop,plant,namespaces,temporaries,exec,chdir,closed-stdout,alias-reference,other-user."
    )
    var faults = FaultSet.all
    @Option(help: "sameHostStaleAfter for the workers, in milliseconds.") var staleMs = 1500
    @Option(help: "Heartbeat interval for the workers, in milliseconds.") var heartbeatMs = 250
    @Option(
        help:
            "The etcd profile: an etcd cluster's client URLs; exec workers (3 of every 8) take the data file's lease there first (rvf-lock exec --etcd)."
    )
    var etcd: String?
    @Flag(help: .hidden) var selfCheckWithoutLock = false
    /// Closed-stdout workers put the lock file on descriptor 1 (the library's bug before issue 10.1's fix).
    @Flag(help: .hidden) var selfCheckLockFileOnStdout = false
    /// Workers are not told the reference holders' alias, so they must break their live locks.
    @Flag(help: .hidden) var selfCheckAliasUnknown = false

    func validate() throws {
        guard workers >= 2 else { throw ValidationError("--workers must be at least 2") }
        guard seconds >= 5 else { throw ValidationError("--seconds must be at least 5") }
    }

    func run() throws {
        let directory = try prepareDirectory()
        var configuration = Supervisor.Configuration(
            workers: workers, seconds: seconds, files: TortureFiles(directory: directory),
            seed: seed ?? UInt64.random(in: 0...UInt64.max), faults: faults)
        configuration.staleMilliseconds = staleMs
        configuration.heartbeatMilliseconds = heartbeatMs
        configuration.etcdEndpoints = etcd
        configuration.workersSkipLock = selfCheckWithoutLock
        configuration.lockFileOnStandardOutput = selfCheckLockFileOnStdout
        configuration.workersIgnoreAlias = selfCheckAliasUnknown
        say("rvflock-torture: \(workers) workers for \(seconds) s in \(directory), faults \(faults), seed \(configuration.seed)\n")
        let supervisor = Supervisor(configuration)
        try supervisor.run()
        if let reason = supervisor.namespaceSkipReason { say("namespaces skipped: \(reason)\n") }
        if let reason = supervisor.referenceSkipReason { say("alias reference holders skipped: \(reason)\n") }
        if let reason = supervisor.otherUserSkipReason { say("other-user breaker skipped: \(reason)\n") }
        let data = (try? Data(contentsOf: URL(fileURLWithPath: configuration.files.dataFile))) ?? Data()
        let readerResults = (0..<configuration.readers).map {
            (try? String(contentsOfFile: configuration.files.readerResult($0), encoding: .utf8)) ?? ""
        }
        let report = RunVerifier(supervisor: supervisor, dataFile: [UInt8](data), readerResults: readerResults).report()
        say(report.table)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        if report.violations.total > 0 {
            say("FAILED: \(report.violations.total) violations; logs kept in \(directory)\n")
            throw ExitCode(1)
        }
        // A directory of our own making is only worth keeping for a failed run's logs.
        if dir == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    private func prepareDirectory() throws -> String {
        guard let dir else {
            var template = Array("/tmp/rvflock-torture-XXXXXX".utf8CString)
            guard let created = mkdtemp(&template) else { throw ValidationError("mkdtemp failed: errno \(errno)") }
            return String(cString: created)
        }
        let manager = FileManager.default
        if manager.fileExists(atPath: dir) {
            guard (try manager.contentsOfDirectory(atPath: dir)).isEmpty else {
                throw ValidationError("--dir \(dir) is not empty; give an empty or missing directory")
            }
        } else {
            try manager.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        return URL(fileURLWithPath: dir).standardizedFileURL.path
    }

    private func say(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
