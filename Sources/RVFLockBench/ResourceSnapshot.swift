#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What a process has consumed so far: CPU time of all its threads, and the
/// write counters of `/proc/self/io`.
struct ResourceSnapshot {
    var cpuNanoseconds: UInt64
    /// Write system calls (`syscw`).
    var writeCalls: UInt64
    /// Bytes passed to write system calls (`wchar`).
    var writtenCharacters: UInt64
    /// Bytes this process caused to be sent to storage (`write_bytes`).
    var storageBytes: UInt64

    static func current() -> ResourceSnapshot {
        var time = timespec()
        // CLOCK_PROCESS_CPUTIME_ID counts every thread in nanoseconds, where
        // /proc/PID/stat counts 10 ms ticks: too coarse for a heartbeat.
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        let cpu = UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
        let io = (try? String(contentsOfFile: "/proc/self/io", encoding: .utf8)) ?? ""
        var fields: [String: UInt64] = [:]
        for line in io.split(separator: "\n") {
            let parts = line.split(separator: ":")
            if parts.count == 2 { fields[String(parts[0])] = UInt64(parts[1].trimmingCharacters(in: .whitespaces)) }
        }
        return ResourceSnapshot(
            cpuNanoseconds: cpu, writeCalls: fields["syscw"] ?? 0,
            writtenCharacters: fields["wchar"] ?? 0, storageBytes: fields["write_bytes"] ?? 0)
    }

    /// The consumption between `earlier` and this snapshot, as a worker's output line.
    func line(since earlier: ResourceSnapshot) -> String {
        "usage cpu-ns \(cpuNanoseconds &- earlier.cpuNanoseconds) syscw \(writeCalls &- earlier.writeCalls)"
            + " wchar \(writtenCharacters &- earlier.writtenCharacters) write-bytes \(storageBytes &- earlier.storageBytes)"
    }
}
