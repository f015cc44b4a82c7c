import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// Many processes looping acquire/release on one lock.
    @Suite struct ContentionTests {
        @Test func eightContendingProcessesNeverHoldTheLockTogether() async throws {
            let sandbox = LockSandbox()
            let log = sandbox.directory.file("holders.log")
            let workers = try (0..<8).map { id in
                try CrossProcessTests.probe(
                    "contend", sandbox.dataFile, ["seconds=\(Stress.count(short: 2, full: 4))", "id=\(id)", "log=\(log)"],
                    in: sandbox, name: "contend-\(id)")
            }
            var reported = 0
            for (id, worker) in workers.enumerated() {
                let code = await worker.waitForExit(timeout: .seconds(60))
                #expect(code == 0, "worker \(id): exit \(String(describing: code)), stderr: \(worker.errorOutput)")
                if let line = worker.outputLines.first(where: { $0.hasPrefix("acquisitions ") }),
                    let count = Int(line.dropFirst("acquisitions ".count))
                {
                    reported += count
                } else {
                    Issue.record("worker \(id) did not report its acquisitions: \(worker.output)")
                }
            }
            let holders = HolderLog(contentsOf: log)
            #expect(holders.overlaps == 0)
            #expect(holders.malformedLines.isEmpty)
            #expect(holders.holderAtEnd == nil)
            for id in 0..<8 {
                #expect(holders.acquisitions["\(id)", default: 0] >= 1, "worker \(id) never got the lock")
            }
            #expect(holders.total == reported)
            #expect(!sandbox.lockExists)
            print(
                "contention: 8 processes, 4 s, \(holders.total) acquisitions, \(holders.overlaps) overlaps, "
                    + "per worker \(holders.acquisitions.sorted { $0.key < $1.key }.map(\.value))")
        }
    }
}
