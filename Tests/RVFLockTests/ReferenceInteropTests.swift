#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// RVFLock and the reference implementation (`locking.rs`) on the same lock file.
    @Suite(
        .enabled(
            if: ReferenceHarness.isAvailable,
            "needs rustc and the reference: ../shared/seed/locking.rs beside the package, or RVFLOCK_REFERENCE_DIR"))
    struct ReferenceInteropTests {
        static let sameHost = ["HOSTNAME": Host.name]
        static let otherHost = ["HOSTNAME": "elsewhere"]

        func startReference(_ arguments: [String], environment: [String: String], in sandbox: LockSandbox) async throws -> ChildProcess {
            let harness = try await ReferenceHarness.shared.executable()
            return try ChildProcess(
                harness, arguments, environment: environment,
                outputIn: sandbox.directory.path, name: "reference-\(arguments[0])")
        }

        func referenceTry(_ sandbox: LockSandbox, environment: [String: String]) async throws -> CompletedProcess {
            let harness = try await ReferenceHarness.shared.executable()
            return try await CompletedProcess.run(harness, ["try", sandbox.dataFile], environment: environment)
        }

        @Test func referenceHolderBlocksUs() async throws {
            let sandbox = LockSandbox()
            let reference = try await startReference(["hold", sandbox.dataFile, "60000"], environment: Self.sameHost, in: sandbox)
            let line = try #require(
                await reference.waitForLine(startingWith: "acquired"), "reference: \(reference.output) \(reference.errorOutput)")
            #expect(line == "acquired \(reference.pid)")

            let error = try #require(LockError.caught { () throws(LockError) in try sandbox.lock().tryAcquire() })
            #expect(error.code == .busy)
            let holder = try #require(error.holder)
            #expect(holder.pid == UInt32(reference.pid))
            #expect(holder.hostname == Host.name)
            #expect(holder.isSameHost)
            #expect(holder.liveness == .processExists)
            #expect(holder.record.checksum == .crc32)
            #expect(error.description.contains("pid \(reference.pid)"))
            #expect(sandbox.lockRecord?.pid == UInt32(reference.pid))
            await CrossProcessTests.crash(reference)
        }

        @Test func ourHolderBlocksTheReference() async throws {
            let sandbox = LockSandbox()
            let handle = try sandbox.lock().tryAcquire()
            for environment in [Self.sameHost, Self.otherHost] {
                let attempt = try await referenceTry(sandbox, environment: environment)
                #expect(attempt.status == 3, "HOSTNAME=\(environment["HOSTNAME"]!): \(attempt)")
                #expect(attempt.lines == ["busy"])
            }
            try handle.checkHeld()
            #expect(sandbox.lockRecord?.writerID == handle.writerID)
            try handle.release()
        }

        @Test func weTakeOverAStaleLockLeftByAKilledReferenceProcess() async throws {
            let sandbox = LockSandbox()
            let reference = try await startReference(["hold", sandbox.dataFile, "60000"], environment: Self.sameHost, in: sandbox)
            _ = try #require(await reference.waitForLine(startingWith: "acquired"), "reference: \(reference.errorOutput)")
            await CrossProcessTests.crash(reference)
            let left = try #require(sandbox.lockRecord)
            #expect(left.pid == UInt32(reference.pid))
            #expect(left.checksum == .crc32)

            // Dead, but younger than 30 s: the protocol keeps it (the pid might have been reused).
            let young = LockError.caught { () throws(LockError) in try sandbox.lock().tryAcquire() }
            #expect(young?.code == .busy)
            #expect(young?.holder?.liveness == .noSuchProcess)

            LockFiles.setTimestamp(sandbox.lockFile, to: LockFiles.nanoseconds(secondsAgo: 60))
            #expect(sandbox.lockRecord?.checksum == .crc32)
            let handle = try sandbox.lock().tryAcquire()
            let now = try #require(sandbox.lockRecord)
            #expect(now.writerID == handle.writerID)
            #expect(now.checksum == .crc32c)
            try handle.release()
        }

        @Test func referenceTakesOverAStaleLockLeftByAKilledRVFLockProcess() async throws {
            let sandbox = LockSandbox()
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            await CrossProcessTests.crash(holder)
            #expect(sandbox.lockRecord?.pid == UInt32(holder.pid))

            // The reference needs the record older than 30 s; it must not remove it before.
            let early = try await referenceTry(sandbox, environment: Self.sameHost)
            #expect(early.status == 3, "\(early)")
            #expect(sandbox.lockRecord?.pid == UInt32(holder.pid))

            LockFiles.setTimestamp(sandbox.lockFile, to: LockFiles.nanoseconds(secondsAgo: 40))
            #expect(sandbox.lockRecord?.checksum == .crc32c)
            let late = try await referenceTry(sandbox, environment: Self.sameHost)
            #expect(late.status == 0, "\(late)")
            #expect(late.lines == ["acquired"])
            #expect(!sandbox.lockExists)
        }

        @Test func withoutHeartbeatTheReferenceOnAnotherHostBreaksABackdatedLiveLock() async throws {
            // Negative control for the heartbeat test below: the same backdating, no refresh in time.
            let sandbox = LockSandbox()
            let holder = try CrossProcessTests.probe(
                "hold", sandbox.dataFile, ["heartbeat-ms=60000", "stdin=1"],
                in: sandbox, keepsStandardInputOpen: true)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            LockFiles.setTimestamp(sandbox.lockFile, to: LockFiles.nanoseconds(secondsAgo: 400))

            let attempt = try await referenceTry(sandbox, environment: Self.otherHost)
            #expect(attempt.status == 0, "\(attempt)")
            #expect(attempt.lines == ["acquired"])
            let code = await holder.waitForExit(timeout: .seconds(20))
            #expect(code == 4, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(holder.outputLines.last == "lost")
        }

        @Test func heartbeatKeepsALiveLockFreshForTheReferenceOnAnotherHost() async throws {
            let sandbox = LockSandbox()
            let holder = try CrossProcessTests.probe(
                "hold", sandbox.dataFile, ["heartbeat-ms=200", "stdin=1"],
                in: sandbox, keepsStandardInputOpen: true)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            // As if the holder had gone 400 s without refreshing.
            LockFiles.setTimestamp(sandbox.lockFile, to: LockFiles.nanoseconds(secondsAgo: 400))
            try await Task.sleep(for: .milliseconds(500))
            // A loaded machine may delay a beat; wait a little more rather than fail on scheduling.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            func age() -> UInt64 {
                LockFiles.nowNanoseconds() &- (sandbox.lockRecord?.timestampNanoseconds ?? 0)
            }
            while age() > 5_000_000_000 && clock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(age() < 5_000_000_000, "the heartbeat did not refresh the backdated timestamp")
            #expect(sandbox.lockRecord?.checksum == .crc32c)

            let attempt = try await referenceTry(sandbox, environment: Self.otherHost)
            #expect(attempt.status == 3, "\(attempt)")
            #expect(attempt.lines == ["busy"])
            holder.closeStandardInput()
            let code = await holder.waitForExit(timeout: .seconds(20))
            #expect(code == 0, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(holder.outputLines.last == "released")
        }
    }
}
