/// Item 6: what holding a lock costs: CPU time and writes of the holder
/// process, with the default heartbeat and with a 100 ms one, against an idle
/// control process, all three measured at the same time.
struct HeartbeatBenchmark {
    let context: BenchContext

    func run() throws -> [Results.Heartbeat] {
        let seconds = context.profile.heartbeatSeconds
        let configurations: [(label: String, arguments: [String], interval: Int?)] = [
            ("idle control (no lock)", ["idle"], nil),
            ("default heartbeat (5 s)", ["hold"], 5000),
            ("heartbeat 100 ms", ["hold", "--heartbeat-ms", "100"], 100),
        ]
        let workers = try configurations.enumerated().map { index, configuration throws(BenchFailure) in
            let data = try context.dataFile(for: "heartbeat-\(index)")
            return try context.worker(
                configuration.arguments + ["--file", data, "--seconds", "\(seconds)"],
                label: "heartbeat: \(configuration.label)")
        }
        var usages: [(cpu: UInt64, calls: UInt64, characters: UInt64, storage: UInt64, held: Bool)] = []
        for worker in workers {
            let lines = try worker.finish(timeoutNanoseconds: UInt64(seconds * 1e9) + 60_000_000_000)
            guard let line = lines.first(where: { $0.hasPrefix("usage") }),
                let cpu = field("cpu-ns", in: line), let calls = field("syscw", in: line),
                let characters = field("wchar", in: line), let storage = field("write-bytes", in: line)
            else {
                throw BenchFailure("\(worker.label) printed no usage: \(lines)")
            }
            usages.append((cpu, calls, characters, storage, field("held", in: line) == 1))
        }
        let control = usages[0]
        let perHour = 3600 / seconds
        return configurations.indices.map { index in
            let usage = usages[index]
            return Results.Heartbeat(
                label: configurations[index].label, intervalMilliseconds: configurations[index].interval,
                seconds: seconds, cpuNanoseconds: usage.cpu, writeCalls: usage.calls,
                writtenCharacters: usage.characters, storageBytes: usage.storage, stillHeld: usage.held,
                cpuMillisecondsPerHour: (Double(usage.cpu) - Double(control.cpu)) / 1e6 * perHour,
                writeCallsPerHour: (Double(usage.calls) - Double(control.calls)) * perHour,
                storageBytesPerHour: (Double(usage.storage) - Double(control.storage)) * perHour)
        }
    }
}
