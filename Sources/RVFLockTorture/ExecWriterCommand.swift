#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import RVFLock

/// The writer of an exec worker's holding (hidden subcommand), started by
/// `rvf-lock exec ... sh -c '...'` as the child of the shell, whose parent is
/// rvf-lock's keeper: logs `A` (with the pid of the rvf-lock that holds the lock,
/// the keeper's parent, for the supervisor to kill), appends
/// a few records, checking before each that the lock path still names the
/// lock file whose descriptor it inherited (`RVF_LOCK_FD`), and logs `R`.
struct ExecWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec-writer", shouldDisplay: false)

    @Option var index: Int
    @Option var incarnation: Int
    @Option var acquisition: Int
    @Option var dir: String
    @Option var seed: UInt64
    @Option var mode: String
    @Option(help: "CLOCK_MONOTONIC nanoseconds when the worker started rvf-lock") var wantedSince: UInt64
    @Option(help: "rvf-lock's keeper, the shell's parent; its own parent is the rvf-lock holding the lock") var keeperPid: Int32

    func run() throws {
        let files = TortureFiles(directory: dir)
        let log = AppendLog(path: files.eventLog)
        let data = AppendLog(path: files.dataFile)
        let key = HoldingKey(writer: index, incarnation: incarnation, acquisition: acquisition)
        var random = SeededGenerator(seed: seed, stream: 0xE7EC_0000_0000 | UInt64(index) << 20 | UInt64(acquisition))

        guard let variable = ProcessInfo.processInfo.environment["RVF_LOCK_FD"], let descriptor = CInt(variable) else {
            log.append("E \(Syscalls.monotonicNanoseconds()) w\(index) \(getpid()) no-RVF_LOCK_FD\n")
            throw ExitCode(3)
        }
        guard let rvfLockPid = ProcessSpawner.parent(of: keeperPid) else {
            log.append("E \(Syscalls.monotonicNanoseconds()) w\(index) \(getpid()) no-rvf-lock-above-keeper\n")
            throw ExitCode(3)
        }
        log.append(
            TortureEvent.acquiredLine(
                key, pid: rvfLockPid, waited: mode == "wait", waitedNanoseconds: Syscalls.monotonicNanoseconds() - wantedSince,
                lockWriterID: Self.writerID(descriptor)))

        let writes = 2 + Int(random.next() % 5)
        // As the library's workers: now and then a long holding, so that kills find a holder.
        let pause: UInt64 = random.chance(1, in: 4) ? 50_000_000 + random.next() % 100_000_000 : random.next() % 2_000_000
        for sequence in 0..<writes {
            guard Self.lockPathNamesInheritedFile(descriptor, lockFile: files.lockFile) else {
                log.append("L \(Syscalls.monotonicNanoseconds()) \(key) \(getpid())\n")
                break
            }
            data.append(
                DataRecord(
                    writer: index, incarnation: incarnation, acquisition: acquisition,
                    sequence: sequence, monotonicNanoseconds: Syscalls.monotonicNanoseconds()
                ).bytes)
            if sequence < writes - 1 { Syscalls.sleep(nanoseconds: pause) }
        }
        log.append("R \(Syscalls.monotonicNanoseconds()) \(key) \(getpid())\n")
    }

    /// The writer id in the lock file the inherited descriptor holds.
    private static func writerID(_ descriptor: CInt) -> String {
        var bytes = [UInt8](repeating: 0, count: LockRecord.size)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count == LockRecord.size, let record = try? LockRecord(decoding: bytes) else { return "unreadable" }
        return record.writerID.description
    }

    /// `checkHeld()` for a process that has only the descriptor: the lock path still names its file.
    private static func lockPathNamesInheritedFile(_ descriptor: CInt, lockFile: String) -> Bool {
        var inherited = stat()
        var current = stat()
        guard fstat(descriptor, &inherited) == 0, lstat(lockFile, &current) == 0 else { return false }
        return inherited.st_dev == current.st_dev && inherited.st_ino == current.st_ino
    }
}
