#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import Testing

extension CLITests {
    /// `rvf-lock break` and `rvf-lock wait`.
    @Suite struct BreakAndWait {
        @Test func breakRefusesALiveLockAndNamesItsHolder() async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let keeper = try holder.keeperPID()
                let before = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/data.rvf.lock"))

                let result = try await rvfLock(["break", "\(dir)/data.rvf"])
                #expect(result.status == 1)
                #expect(result.standardError.contains("pid \(keeper)"))
                // Proven alive (its kernel lock is held): no advice to force it.
                #expect(!result.standardError.contains("--force"), "\(result.standardError)")
                #expect(result.standardError.contains("rvf-lock wait \(dir)/data.rvf"), "\(result.standardError)")
                // Still the holder's lock: same record (give or take a heartbeat's timestamp) and the holder keeps it.
                let after = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/data.rvf.lock"))
                #expect(after.count == 104 && after[0x50..<0x60] == before[0x50..<0x60])

                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }

        @Test func breakRemovesAStaleLockAndSaysWhatItWas() async throws {
            try await withSandbox { dir in
                let deadPID = try await pidOfExitedProcess(in: dir)
                _ = try writeStaleLock(for: "\(dir)/data.rvf", deadPID: deadPID)

                let result = try await rvfLock(["break", "\(dir)/data.rvf"])
                #expect(result.status == 0)
                #expect(result.standardError.contains("stale"))
                #expect(result.standardError.contains("pid \(deadPID)"))
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))

                let again = try await rvfLock(["break", "\(dir)/data.rvf"])
                #expect(again.status == 0)
                #expect(again.standardError.contains("no lock"))
            }
        }

        @Test func breakRemovesAnOldInvalidLockButNotAYoungOne() async throws {
            try await withSandbox { dir in
                try writeInvalidLock(for: "\(dir)/young.rvf", age: 0)
                let young = try await rvfLock(["break", "\(dir)/young.rvf"])
                #expect(young.status == 1)
                #expect(FileManager.default.fileExists(atPath: "\(dir)/young.rvf.lock"))

                try writeInvalidLock(for: "\(dir)/old.rvf", age: 3600)
                let old = try await rvfLock(["break", "\(dir)/old.rvf"])
                #expect(old.status == 0)
                #expect(old.standardError.contains("invalid"))
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/old.rvf.lock"))
            }
        }

        @Test func breakForceRemovesALiveLockAndSaysWhose() async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let keeper = try holder.keeperPID()

                let result = try await rvfLock(["break", "--force", "\(dir)/data.rvf"])
                #expect(result.status == 0)
                #expect(result.standardError.contains("live lock"))
                #expect(result.standardError.contains("pid \(keeper)"))
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
                // The holder learns it lost the lock.
                #expect(await holder.waitForExit() == 70)
            }
        }

        @Test func waitReturnsAtOnceForAFreeLockAndCreatesNothing() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["wait", "\(dir)/data.rvf"])
                #expect(result.status == 0)
                #expect(result.standardError.contains("free"))
                #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
            }
        }

        @Test func waitTimesOutOnAHeldLock() async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let keeper = try holder.keeperPID()

                let result = try await rvfLock(["wait", "-w", "0.3", "\(dir)/data.rvf"])
                #expect(result.status == 75)
                #expect(result.standardError.contains("pid \(keeper)"))

                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }

        @Test func waitReturnsWhenTheHolderReleases() async throws {
            try await withSandbox { dir in
                let holder = try ChildProcess.rvfLock(
                    ["exec", "\(dir)/data.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; sleep 0.5"],
                    outputIn: dir, name: "holder")
                _ = try await waitForLine(in: "\(dir)/pid")

                let result = try await rvfLock(["wait", "-w", "20", "\(dir)/data.rvf"])
                #expect(result.status == 0)
                #expect(await holder.waitForExit() == 0)
            }
        }

        @Test func waitAcceptsAStaleLockWithoutRemovingIt() async throws {
            try await withSandbox { dir in
                let deadPID = try await pidOfExitedProcess(in: dir)
                _ = try writeStaleLock(for: "\(dir)/data.rvf", deadPID: deadPID)

                let result = try await rvfLock(["wait", "-w", "5", "\(dir)/data.rvf"])
                #expect(result.status == 0)
                #expect(result.standardError.contains("stale"))
                #expect(FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
            }
        }

        private func startHolder(in dir: String) throws -> ChildProcess {
            try ChildProcess.rvfLock(
                ["exec", "-q", "\(dir)/data.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"],
                outputIn: dir, name: "holder")
        }
    }
}
