#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension ManyProcessTests {
    /// Several processes racing to break the same stale lock.
    @Suite struct StaleLockRaceTests {
        /// How the stale lock of a trial was left behind.
        enum StaleLockOrigin: CaseIterable {
            /// A reference-format record (IEEE CRC32) with a dead pid and an old timestamp.
            case referenceRecordOfDeadProcess
            /// An RVFLock holder killed with SIGKILL: its record is fresh, its kernel lock released.
            case killedRVFLockHolder
        }

        func leaveStaleLock(_ origin: StaleLockOrigin, in sandbox: LockSandbox) async throws {
            switch origin {
            case .referenceRecordOfDeadProcess:
                try sandbox.plantStaleReferenceLock()
            case .killedRVFLockHolder:
                let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, in: sandbox)
                _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
                await CrossProcessTests.crash(holder)
            }
            #expect(try sandbox.lock().status().isBreakable, "\(origin): the planted lock is not stale")
        }

        @Test func exactlyOneOfSixRacingProcessesTakesAStaleLock() async throws {
            let trials = Stress.count(short: 4, full: 20)
            let racers = 6
            var failures = 0
            for trial in 0..<trials {
                let origin: StaleLockOrigin = trial.isMultiple(of: 2) ? .referenceRecordOfDeadProcess : .killedRVFLockHolder
                let sandbox = LockSandbox()
                try await leaveStaleLock(origin, in: sandbox)
                let log = sandbox.directory.file("holders.log")
                // Far enough ahead that every racer is asleep before the start even on a loaded
                // machine: a racer starting late, after the winner released, would take a free lock.
                let start = LockFiles.nowNanoseconds() + 800_000_000
                let workers = try (0..<racers).map { id in
                    try CrossProcessTests.probe(
                        "race", sandbox.dataFile, ["start-ns=\(start)", "id=\(id)", "log=\(log)", "hold-ms=200"],
                        in: sandbox, name: "race-\(id)")
                }
                // (tried, released) of each winner; the try of each loser.
                var wins: [(tried: UInt64, released: UInt64)] = []
                var losses = 0
                for worker in workers {
                    let code = await worker.waitForExit(timeout: .seconds(30))
                    let fields = worker.outputLines.first?.split(separator: " ") ?? []
                    switch code {
                    case 0 where fields.count == 3 && fields[0] == "acquired":
                        wins.append((UInt64(fields[1]) ?? 0, UInt64(fields[2]) ?? 0))
                    case 3 where fields.count == 2 && fields[0] == "busy":
                        losses += 1
                    default: Issue.record("trial \(trial): racer exit \(String(describing: code)): \(worker.output) \(worker.errorOutput)")
                    }
                }
                // A racer that a loaded machine woke only after the winner had released
                // takes a free lock: a later holder, not a second winner of the race.
                let first = wins.min { $0.tried < $1.tried }
                let rivals = wins.filter { win in first.map { win.tried < $0.released } ?? false }
                let late = wins.count - rivals.count
                let holders = HolderLog(contentsOf: log)
                #expect(rivals.count == 1, "trial \(trial) (\(origin)): \(rivals.count) processes took the lock in the race")
                #expect(losses + late == racers - 1, "trial \(trial) (\(origin))")
                #expect(holders.overlaps == 0, "trial \(trial) (\(origin))")
                #expect(holders.total == wins.count, "trial \(trial) (\(origin))")
                #expect(!sandbox.lockExists)
                if late > 0 { print("stale-lock race: trial \(trial): \(late) racer(s) woke after the winner released") }
                if rivals.count != 1 || holders.overlaps != 0 { failures += 1 }
            }
            print("stale-lock race: \(trials) trials of \(racers) racers, \(failures) with other than exactly one holder")
        }
    }
}
