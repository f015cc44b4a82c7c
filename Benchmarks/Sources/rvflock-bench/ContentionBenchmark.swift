#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Item 3: processes looping acquire, hold, release: throughput, fairness, and
/// overlaps counted from an append log, as in the torture test.
struct ContentionBenchmark {
    let context: BenchContext
    /// How long a reference worker sleeps after a failed try (it cannot wait).
    static let referencePollMicroseconds: UInt64 = 1000

    func run(processes: Int, holdMicroseconds: UInt64, reference: Bool) throws -> Results.Contention {
        let name = "\(reference ? "reference" : "rvflock")-contend-\(processes)-\(holdMicroseconds)"
        let data = try context.dataFile(for: name)
        let log = data + ".log"
        try context.emptyFile(log)
        let seconds = context.profile.contentionSeconds
        let start = context.startTime(processes: processes)
        let end = start + UInt64(seconds * 1e9)
        let workers = try (1...processes).map { id throws(BenchFailure) in
            if reference {
                return try context.referenceWorker(
                    ["contend", data, "\(start)", "\(end)", "\(holdMicroseconds)", "\(id)", log, "\(Self.referencePollMicroseconds)"],
                    label: "reference contend worker \(id)")
            }
            return try context.worker(["contend", "--file", data, "--id", "\(id)", "--log", log,
                                       "--start-ns", "\(start)", "--end-ns", "\(end)", "--hold-us", "\(holdMicroseconds)"],
                                      label: "contend worker \(id)")
        }
        var counts: [Int] = []
        for worker in workers {
            let lines = try worker.finish()
            guard let count = lines.lazy.compactMap({ field("acquisitions", in: $0) }).first else {
                throw BenchFailure("\(worker.label) printed no count: \(lines)")
            }
            counts.append(Int(count))
        }
        let total = counts.reduce(0, +)
        return Results.Contention(
            implementation: reference ? "reference" : "RVFLock", processes: processes,
            holdMicroseconds: holdMicroseconds, seconds: seconds, acquisitions: total,
            acquisitionsPerSecond: Double(total) / seconds,
            fewestByOneProcess: counts.min() ?? 0, mostByOneProcess: counts.max() ?? 0,
            overlaps: try Self.overlaps(inLog: log))
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
