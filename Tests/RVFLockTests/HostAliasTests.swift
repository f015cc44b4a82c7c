#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// Records that name this machine by another of its names (issue 10, item 3).
    ///
    /// The reference writes `$HOSTNAME` (or `/etc/hostname`), which can differ from
    /// `gethostname()`. The judges here run with `HOSTNAME=alias-x`, so that for them
    /// `alias-x` is an alias of this machine, and with thresholds shortened to
    /// 100 ms (same host) and 300 ms or 60 s (other host).
    @Suite struct HostAliasTests {
        static let alias = "alias-x"
        static let judgeEnvironment = ["HOSTNAME": alias]

        static func judge(_ mode: String, _ dataFile: String, otherHostMilliseconds: Int) async throws -> CompletedProcess {
            try await CrossProcessTests.runProbe(
                mode, dataFile, ["stale-ms=100", "other-ms=\(otherHostMilliseconds)"],
                environment: judgeEnvironment)
        }

        @Test(
            .enabled(
                if: ReferenceHarness.isAvailable,
                "needs rustc and the reference: ../shared/seed/locking.rs beside the package, or RVFLOCK_REFERENCE_DIR"))
        func aLiveReferenceHolderNamingThisHostByAnAliasIsNotBrokenAfterTheOtherHostThreshold() async throws {
            #expect(Host.name != Self.alias)
            let sandbox = LockSandbox()
            let harness = try await ReferenceHarness.shared.executable()
            let reference = try ChildProcess(
                harness, ["hold", sandbox.dataFile, "60000"], environment: Self.judgeEnvironment,
                outputIn: sandbox.directory.path, name: "reference-hold")
            _ = try #require(await reference.waitForLine(startingWith: "acquired"), "reference: \(reference.errorOutput)")
            let written = try #require(sandbox.lockBytes)
            #expect(sandbox.lockRecord?.hostname == Self.alias)
            // Older than the judges' 300 ms other-host threshold.
            try await Task.sleep(for: .milliseconds(800))

            // Control: a judge for whom the name is not this machine's calls it stale by then.
            let stranger = try await CrossProcessTests.runProbe(
                "status", sandbox.dataFile, ["stale-ms=100", "other-ms=300"],
                environment: ["HOSTNAME": Host.name])
            #expect(
                stranger.lines.first?.hasPrefix("status stale pid=\(reference.pid) host=\(Self.alias) match=otherHost ") == true,
                "\(stranger)")

            let status = try await Self.judge("status", sandbox.dataFile, otherHostMilliseconds: 300)
            #expect(
                status.lines.first?.hasPrefix("status held pid=\(reference.pid) host=\(Self.alias) match=alias liveness=processExists ")
                    == true,
                "\(status)")
            let attempt = try await Self.judge("try", sandbox.dataFile, otherHostMilliseconds: 300)
            #expect(attempt.status == 3, "the alias holder's live lock was taken: \(attempt)")
            #expect(attempt.lines == ["busy \(reference.pid) \(Self.alias)"])
            let breaking = try await Self.judge("break", sandbox.dataFile, otherHostMilliseconds: 300)
            #expect(breaking.status == 3, "\(breaking)")
            #expect(breaking.lines.first?.hasPrefix("refused notStale") == true, "\(breaking)")

            #expect(sandbox.lockBytes == written, "the reference's lock file was replaced or removed")
            await CrossProcessTests.crash(reference)
        }

        @Test func anAliasRecordWithADeadPIDIsStaleOnlyAfterTheOtherHostThreshold() async throws {
            let sandbox = LockSandbox()
            let dead = try Host.deadPID(scratch: sandbox.directory)
            // Two seconds old: far past the same-host threshold of 100 ms, within the other-host 60 s.
            sandbox.plant(
                LockRecord(
                    pid: dead, hostname: Self.alias, timestampNanoseconds: LockFiles.nanoseconds(secondsAgo: 2),
                    writerID: LockFiles.randomWriterID(), checksum: .crc32))
            let young = try await Self.judge("status", sandbox.dataFile, otherHostMilliseconds: 60_000)
            #expect(
                young.lines.first?.hasPrefix("status held pid=\(dead) host=\(Self.alias) match=alias liveness=noSuchProcess ") == true,
                "\(young)")
            let attempt = try await Self.judge("try", sandbox.dataFile, otherHostMilliseconds: 60_000)
            #expect(attempt.status == 3, "a dead alias holder's lock was taken before the other-host threshold: \(attempt)")
            #expect(sandbox.lockRecord?.pid == dead)

            LockFiles.setTimestamp(sandbox.lockFile, to: LockFiles.nanoseconds(secondsAgo: 120))
            let old = try await Self.judge("status", sandbox.dataFile, otherHostMilliseconds: 60_000)
            #expect(
                old.lines.first?.hasPrefix("status stale pid=\(dead) host=\(Self.alias) match=alias liveness=noSuchProcess ") == true,
                "\(old)")
            #expect(old.lines.first?.contains(" reason=otherHostOlderThan ") == true, "\(old)")
            let late = try await Self.judge("try", sandbox.dataFile, otherHostMilliseconds: 60_000)
            #expect(late.status == 0, "\(late)")
            #expect(!sandbox.lockExists)
        }
    }
}
