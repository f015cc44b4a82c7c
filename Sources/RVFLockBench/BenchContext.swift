#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock

/// What every measurement needs: where to put lock files, how to start workers,
/// and the compiled reference harness if there is one.
struct BenchContext {
    let profile: Profile
    /// This executable, re-invoked for worker processes.
    let executable: String
    /// A fresh directory; each measurement works in a subdirectory of its own.
    let directory: String
    /// The compiled reference harness, or nil with `referenceUnavailable` saying why.
    let reference: String?
    let referenceUnavailable: String?

    /// A new empty directory for one measurement, and the data file path in it.
    func dataFile(for measurement: String) throws(BenchFailure) -> String {
        let path = directory + "/" + measurement
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw BenchFailure("could not create \(path): errno \(errno)")
        }
        return path + "/data.rvf"
    }

    func worker(_ arguments: [String], label: String) throws(BenchFailure) -> WorkerProcess {
        try WorkerProcess(executable: executable, arguments: ["worker"] + arguments, label: label)
    }

    func referenceWorker(_ arguments: [String], label: String) throws(BenchFailure) -> WorkerProcess {
        guard let reference else { throw BenchFailure("the reference harness is not built") }
        return try WorkerProcess(executable: reference, arguments: arguments, label: label)
    }

    /// A monotonic start time far enough ahead that `processes` workers have all started by then.
    func startTime(processes: Int) -> UInt64 {
        Syscalls.monotonicNanoseconds() + 300_000_000 + UInt64(processes) * 40_000_000
    }

    /// Creates an empty file (a log or a stamp file).
    func emptyFile(_ path: String) throws(BenchFailure) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw BenchFailure("could not create \(path): errno \(errno)") }
        close(descriptor)
    }
}

/// Progress goes to standard error, so that standard output stays the report.
func progress(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
