import Foundation
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

        /// A waiter granted the holder's file keeps that older file's kernel lock
        /// (its predecessor) while it holds the lock, so that the waiters behind it
        /// on that file keep their place until its release, which lets go of it.
        @Test func aWaiterKeepsTheLineItCameFromUntilItReleases() async throws {
            let sandbox = LockSandbox()
            let done = sandbox.directory.file("done")
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, ["until=\(done)"], in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            let waiter = try CrossProcessTests.probe("wait", sandbox.dataFile, ["line=1"], in: sandbox)
            _ = try #require(await waiter.waitForLine(startingWith: "waiting"), "waiter: \(waiter.output) \(waiter.errorOutput)")
            // Blocked in the kernel's queue for the holder's file: /proc/locks lists the request.
            let queued = await eventually(timeout: .seconds(20), every: .milliseconds(20)) {
                let locks = (try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? ""
                return locks.split(separator: "\n").contains { $0.contains("-> FLOCK") && $0.contains(" \(waiter.pid) ") }
            }
            #expect(queued, "the waiter never queued for the holder's file")
            #expect(FileManager.default.createFile(atPath: done, contents: nil))
            #expect(await holder.waitForExit() == 0, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(await waiter.waitForExit() == 0, "waiter: \(waiter.output) \(waiter.errorOutput)")
            #expect(waiter.outputLines.contains("older-lock-files 1"), "\(waiter.output)")
            #expect(waiter.outputLines.contains("older-lock-files-after-release 0"), "\(waiter.output)")
            #expect(!sandbox.lockExists)
        }
    }
}
