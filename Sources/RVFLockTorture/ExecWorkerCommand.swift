#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RVFLock

/// A worker that holds the lock through `rvf-lock exec` (hidden subcommand):
/// until the deadline, run `rvf-lock exec [-n | -w S] data.rvf sh -c 'TORTURE exec-writer ...; :'`,
/// so that the records are written by the shell's child, below rvf-lock's keeper
/// (rvf-lock, keeper, shell, writer).
///
/// The supervisor SIGKILLs the rvf-lock of a holding exec worker (its pid is in
/// the `A` line the writer logs); the shell and the writer then go on, the
/// writer writing, and the verifier checks that nobody else held the lock
/// meanwhile. This loop just starts the next `rvf-lock exec`, which waits like
/// any other contender.
struct ExecWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec-worker", shouldDisplay: false)

    @Option var index: Int
    @Option var incarnation: Int
    @Option var dir: String
    @Option(help: "CLOCK_MONOTONIC nanoseconds at which to stop") var until: UInt64
    @Option var seed: UInt64
    @Option(help: "The rvf-lock executable") var rvfLock: String
    @Option(help: "An etcd cluster: take the lease there first (rvf-lock exec --etcd)") var etcd: String?

    func run() throws {
        let files = TortureFiles(directory: dir)
        let log = AppendLog(path: files.eventLog)
        var random = SeededGenerator(seed: seed, stream: 0xE7EC << 32 | UInt64(index) << 20 | UInt64(incarnation))
        var attempts = 0
        var tries = 0
        var waits = 0
        var busy = 0
        var killed = 0
        let pid = getpid()
        while Syscalls.monotonicNanoseconds() < until {
            let remaining = until - Syscalls.monotonicNanoseconds()
            let waiting = random.chance(1, in: 2)
            var lockArguments = ["exec", "-q"] + (etcd.map { ["--etcd", $0] } ?? [])
            if waiting {
                waits += 1
                let timeout = min(50_000_000 + random.next() % 1_450_000_000, remaining)
                lockArguments += ["-w", "\(Double(timeout) / 1e9)"]
            } else {
                tries += 1
                lockArguments.append("-n")
            }
            let writer = [
                "\"$0\" exec-writer --index \(index) --incarnation \(incarnation) --acquisition \(attempts)",
                "--dir '\(dir)' --seed \(seed) --mode \(waiting ? "wait" : "try") --wanted-since \(Syscalls.monotonicNanoseconds())",
                "--keeper-pid $PPID; :",
            ].joined(separator: " ")
            attempts += 1
            let arguments = [rvfLock] + lockArguments + [files.dataFile, "sh", "-c", writer, ProcessSpawner.currentExecutable]
            let status = Self.run(arguments, output: files.workerOutput(index, incarnation))
            switch status {
            case 0:
                break
            case 75:
                busy += 1
                if !waiting { Syscalls.sleep(nanoseconds: 1_000_000 + random.next() % 20_000_000) }
            case 128 + SIGKILL:
                // The supervisor killed this holding's rvf-lock; its writer may still be writing.
                killed += 1
            default:
                log.append("E \(Syscalls.monotonicNanoseconds()) w\(index) \(pid) rvf-lock-exit-\(status)\n")
                Syscalls.sleep(nanoseconds: 50_000_000)
            }
        }
        log.append("S \(Syscalls.monotonicNanoseconds()) w\(index) \(pid) \(tries) \(waits) \(busy) 0\n")
    }

    /// Runs `arguments` to completion; the status as a shell shows it (128 + signal).
    private static func run(_ arguments: [String], output: String) -> Int32 {
        guard let child = try? ProcessSpawner.spawn(arguments, output: output) else { return 127 }
        var status: CInt = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
