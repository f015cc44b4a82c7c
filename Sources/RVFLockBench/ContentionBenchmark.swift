#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Item 3: processes looping acquire, hold, release: throughput, fairness, the
/// wait of every acquisition, and overlaps counted from an append log, as in the
/// torture test. RVFLock and kernel `flock(2)` run in the same worker loop; the
/// reference in its own harness, retrying since it cannot wait.
struct ContentionBenchmark {
    let context: BenchContext
    /// How long a reference worker sleeps after a failed try (it cannot wait).
    static let referencePollMicroseconds: UInt64 = 1000

    func run(_ implementation: Implementation, processes: Int, holdMicroseconds: UInt64) throws -> Results.Contention {
        let name = "\(implementation.rawValue)-contend-\(processes)-\(holdMicroseconds)"
        let data = try context.dataFile(for: name)
        let log = data + ".log"
        try context.emptyFile(log)
        let seconds = context.profile.contentionSeconds
        let start = context.startTime(processes: processes)
        let end = start + UInt64(seconds * 1e9)
        let workers = try (1...processes).map { id throws(BenchFailure) in
            let label = "\(implementation.displayName) contend worker \(id)"
            if implementation == .reference {
                return try context.referenceWorker(
                    ["contend", data, "\(start)", "\(end)", "\(holdMicroseconds)", "\(id)", log, "\(Self.referencePollMicroseconds)"],
                    label: label)
            }
            return try context.worker(
                [
                    "contend", "--lock", implementation.rawValue, "--file", data, "--id", "\(id)",
                    "--log", log, "--start-ns", "\(start)", "--end-ns", "\(end)", "--hold-us", "\(holdMicroseconds)",
                ],
                label: label)
        }
        var counts: [Int] = []
        var waits: [Double] = []
        for worker in workers {
            let lines = try worker.finish()
            guard let count = lines.lazy.compactMap({ field("acquisitions", in: $0) }).first else {
                throw BenchFailure("\(worker.label) printed no count: \(lines)")
            }
            guard let waitLine = lines.first(where: { $0.hasPrefix("waits") }) else {
                throw BenchFailure("\(worker.label) printed no waits: \(lines)")
            }
            counts.append(Int(count))
            waits += waitLine.split(separator: " ").dropFirst().compactMap { Double($0) }
        }
        let total = counts.reduce(0, +)
        guard waits.count == total else {
            throw BenchFailure("\(name): \(total) acquisitions but \(waits.count) waits recorded")
        }
        return Results.Contention(
            implementation: implementation, processes: processes,
            holdMicroseconds: holdMicroseconds, seconds: seconds, acquisitions: total,
            acquisitionsPerSecond: Double(total) / seconds,
            fewestByOneProcess: counts.min() ?? 0, mostByOneProcess: counts.max() ?? 0,
            overlaps: try Self.overlaps(inLog: log), waitNanoseconds: Summary(waits))
    }

    /// The number of `+ID` lines written while another ID was inside.
    static func overlaps(inLog path: String) throws(BenchFailure) -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BenchFailure("could not read the append log \(path)")
        }
        var inside: [Substring: Int] = [:]
        var overlaps = 0
        for line in text.split(separator: "\n") {
            let id = line.dropFirst()
            if line.first == "+" {
                if inside.values.contains(where: { $0 > 0 }) { overlaps += 1 }
                inside[id, default: 0] += 1
            } else if line.first == "-" {
                inside[id, default: 0] -= 1
            }
        }
        return overlaps
    }
}
