#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import RVFLock
import RVFLockReference

/// Runs every measurement and writes the report.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the benchmarks and print a markdown table (and JSON).")

    @Option(help: "quick (CI: well under a minute) or full (the README's table).")
    var profile: Profile = .quick

    @Option(help: "Write the results as JSON here.")
    var json: String?

    @Option(help: "Write the markdown report here (it is printed either way).")
    var markdown: String?

    @Option(
        help:
            "The reference implementation to compare with (default: seed/locking.rs in $RVFLOCK_REFERENCE_DIR, or in ../shared beside the package)."
    )
    var reference: String = ReferenceProgram.referenceSource

    @Option(help: "Where to make the scratch directory for lock files (default: $TMPDIR or /tmp).")
    var directory: String?

    @Option(help: "The rvf-lock binary for item 7 (issue 8's cost); without it item 7 is skipped, with the reason.")
    var rvfLock: String?

    @Option(help: "util-linux flock(1) for item 7 (default: the one on PATH).")
    var flock: String?

    @Option(help: "Only these items (1-7), comma-separated; for working on the tool.")
    var only: String?

    @Option(help: "The command line to record in the report.")
    var invokedAs: String?

    @Flag(help: "Keep the scratch directory.")
    var keep = false

    func run() throws {
        let startedAt = Date()
        let clockStart = Syscalls.monotonicNanoseconds()
        let scratch = try makeScratchDirectory(in: directory ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp")
        defer { if !keep { try? FileManager.default.removeItem(atPath: scratch) } }
        let items = Set((only ?? "1,2,3,4,5,6,7").split(separator: ",").compactMap { Int($0) })

        progress("rvflock-bench: \(profile.rawValue) profile, scratch directory \(scratch)")
        let harness: (binary: String?, unavailable: String?)
        do {
            harness = (try ReferenceProgram.build(.bench, in: scratch, reference: reference).executable, nil)
        } catch {
            harness = (nil, error.description)
        }
        if let unavailable = harness.unavailable { progress("rvflock-bench: reference skipped: \(unavailable)") }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let context = BenchContext(
            profile: profile, executable: executable, directory: scratch,
            reference: harness.binary, referenceUnavailable: harness.unavailable)

        var results = Results(
            profile: profile,
            command: invokedAs ?? CommandLine.arguments.joined(separator: " "),
            machine: .init(
                system: Self.systemName(), cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                loadAverageAtStart: Self.loadAverage(), loadAverageAtEnd: "",
                lockDirectory: shownPath(scratch), fileSystem: Self.fileSystemName(of: scratch),
                startedAt: ISO8601DateFormatter().string(from: startedAt), secondsTaken: 0))
        if let unavailable = harness.unavailable {
            results.notes.append("Reference not measured: \(unavailable).")
        }
        let located = CommandTools.locate(rvfLock: rvfLock, flock: flock, besideExecutable: executable)
        if items.contains(7), let unavailable = located.unavailable {
            progress("rvflock-bench: item 7 skipped: \(unavailable)")
            results.notes.append("Item 7 (rvf-lock exec against flock(1)) not measured: \(unavailable).")
        }

        if items.contains(1) {
            progress("1. uncontended acquire + release")
            results.uncontended = try UncontendedBenchmark(context: context).run()
            results.uncontended?.fileSystem = results.machine.fileSystem
            let memory = "/dev/shm"
            if access(memory, W_OK) == 0, Self.fileSystemName(of: memory).hasPrefix("tmpfs"),
                !results.machine.fileSystem.hasPrefix("tmpfs")
            {
                progress("1. uncontended acquire + release again on tmpfs (no disk)")
                let inMemory = try makeScratchDirectory(in: memory)
                defer { if !keep { try? FileManager.default.removeItem(atPath: inMemory) } }
                let memoryContext = BenchContext(
                    profile: profile, executable: executable, directory: inMemory,
                    reference: harness.binary, referenceUnavailable: harness.unavailable)
                results.uncontendedInMemory = try UncontendedBenchmark(context: memoryContext).run()
                results.uncontendedInMemory?.fileSystem = Self.fileSystemName(of: inMemory)
            }
        }
        // Items 2 and 3 run each configuration for RVFLock and kernel flock back to
        // back, so that both see the machine in the same state; item 2 the floor of
        // a handoff through the lock path too.
        if items.contains(2) {
            for waiters in profile.handoffWaiters {
                for implementation in [Implementation.rvflock, .linkFloor, .kernelFlock] {
                    progress("2. handoff latency, \(implementation.displayName), \(waiters) waiting")
                    results.handoff.append(try HandoffBenchmark(context: context).run(implementation, waiters: waiters))
                }
            }
            // Holders past their watch delay, as most real ones are: one waiting.
            for implementation in [Implementation.rvflock, .linkFloor, .kernelFlock] {
                let hold = HandoffBenchmark.longHoldMicroseconds
                progress("2. handoff latency, \(implementation.displayName), 1 waiting, hold \(hold / 1000) ms")
                results.handoff.append(
                    try HandoffBenchmark(context: context).run(implementation, waiters: 1, holdMicroseconds: hold))
            }
        }
        if items.contains(3) {
            let contention = ContentionBenchmark(context: context)
            for hold in profile.contentionHoldMicroseconds {
                for processes in profile.contentionProcesses {
                    var implementations = [Implementation.rvflock, .kernelFlock]
                    // The floor at the sizes the goals name: whether what they ask is within
                    // reach of RVFLock's protocol run with no library code, or beyond it.
                    if processes == 8 || processes == 32 { implementations.insert(.linkFloor, at: 1) }
                    // The reference polls, so each size costs a full run for one row; 8 is the size the goals name.
                    if context.reference != nil && processes == 8 { implementations.append(.reference) }
                    for implementation in implementations {
                        progress("3. contention, \(implementation.displayName), \(processes) processes, hold \(hold) µs")
                        results.contention.append(try contention.run(implementation, processes: processes, holdMicroseconds: hold))
                    }
                }
            }
        }
        if items.contains(4) {
            progress("4. cost of waiting")
            results.waiting = try WaitingBenchmark(context: context).run()
        }
        if items.contains(6) {
            progress("6. cost of holding (heartbeat)")
            results.heartbeat = try HeartbeatBenchmark(context: context).run()
        }
        if items.contains(7), let tools = located.tools {
            progress("7. rvf-lock exec against flock(1): whole-process time")
            results.commandStart = try CommandStartBenchmark(context: context, tools: tools).run()
            progress("7. rvf-lock exec against flock(1): exec-to-exec handoff")
            results.commandHandoff = try CommandHandoffBenchmark(context: context, tools: tools).run()
        }
        // Last: in the full profile it sits out the reference's 30 s rule.
        if items.contains(5) {
            progress("5. recovery after SIGKILL")
            results.recovery = try RecoveryBenchmark(context: context).run()
        }

        results.machine.loadAverageAtEnd = Self.loadAverage()
        results.machine.secondsTaken = Double(Syscalls.monotonicNanoseconds() - clockStart) / 1e9
        results.goals = GoalTable.goals(for: results)
        let report = MarkdownReport(results: results).render()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // NaN (a summary of no samples) is not JSON; write it as a string rather than fail.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let encoded = String(decoding: try encoder.encode(results), as: UTF8.self) + "\n"
        if let markdown { try report.write(toFile: markdown, atomically: true, encoding: .utf8) }
        if let json { try encoded.write(toFile: json, atomically: true, encoding: .utf8) }
        FileHandle.standardOutput.write(Data(report.utf8))
        if json == nil { FileHandle.standardOutput.write(Data(("\n```json\n" + encoded + "```\n").utf8)) }
    }

    private func makeScratchDirectory(in parent: String) throws(BenchFailure) -> String {
        var template = Array("\(parent)/rvflock-bench.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw BenchFailure("could not create a scratch directory in \(parent): errno \(errno)")
        }
        return String(cString: made)
    }

    private static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    private static func systemName() -> String {
        var names = utsname()
        uname(&names)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(text(names.sysname)) \(text(names.release)) \(text(names.machine))"
    }

    /// The type of the file system holding `path`, from the longest matching mount point.
    private static func fileSystemName(of path: String) -> String {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        // Mount points are absolute: a relative --directory (or one through a link) is resolved first.
        let resolved =
            realpath(path, nil).map { resolved in
                defer { free(resolved) }
                return String(cString: resolved)
            } ?? path
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = String(fields[1])
            let matches = resolved == point || resolved.hasPrefix(point == "/" ? "/" : point + "/")
            if matches && point.count >= (best?.point.count ?? -1) { best = (point, String(fields[2])) }
        }
        return "\(best?.type ?? "an unknown file system") (\(shownPath(path)))"
    }
}
