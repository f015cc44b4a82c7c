#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// Locks seen by a user with fewer rights than the lock's directory needs, run
    /// as `nobody` through `setpriv` (so only when the tests run as root).
    @Suite(
        .enabled(
            if: ChildProcess.User.unavailableReason == nil,
            "needs root and /usr/bin/setpriv, to run a process as nobody (uid 65534)"))
    struct PermissionEdgeTests {
        /// A sandbox that `nobody` can enter (mkdtemp makes it 0700) but not write.
        func openSandbox() -> LockSandbox {
            let sandbox = LockSandbox()
            #expect(chmod(sandbox.directory.path, 0o755) == 0)
            return sandbox
        }

        /// Runs a probe as nobody to its end.
        func runAsNobody(
            _ mode: String, _ dataFile: String, _ settings: [String] = [], in sandbox: LockSandbox
        ) async throws -> ChildProcess {
            let child = try CrossProcessTests.probe(mode, dataFile, settings, in: sandbox, user: .nobody)
            _ = await child.waitForExit(timeout: .seconds(60))
            return child
        }

        /// `lstat` of the lock file fails with EACCES while the holder cannot search
        /// its directory: nothing says the lock is gone, so it is not lost (issue 10, item 10).
        @Test func aHolderThatCannotLookAtItsLockFileForAWhileDoesNotCallItLost() async throws {
            let sandbox = openSandbox()
            let owned = sandbox.directory.file("owned")
            #expect(mkdir(owned, 0o755) == 0)
            #expect(chown(owned, ChildProcess.User.nobody.uid, ChildProcess.User.nobody.gid) == 0)
            let dataFile = owned + "/data.rvf"
            let lockFile = dataFile + ".lock"
            let done = sandbox.directory.file("done")
            let holder = try CrossProcessTests.probe("hold", dataFile, ["heartbeat-ms=50", "until=\(done)"], in: sandbox, user: .nobody)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.output) \(holder.errorOutput)")
            #expect(LockFiles.record(at: lockFile)?.pid == UInt32(holder.pid))

            #expect(chmod(owned, 0) == 0)
            // Several heartbeats (50 ms apart) that cannot check the lock path.
            try await Task.sleep(for: .milliseconds(600))
            #expect(holder.exitStatusIfExited() == nil, "the holder gave up: \(holder.output) \(holder.errorOutput)")
            #expect(chmod(owned, 0o755) == 0)

            // The heartbeat goes on.
            let before = LockFiles.record(at: lockFile)?.timestampNanoseconds
            #expect(await eventually { LockFiles.record(at: lockFile).map { $0.timestampNanoseconds != before } ?? true })
            #expect(LockFiles.record(at: lockFile)?.pid == UInt32(holder.pid))

            LockFiles.write([], to: done)
            let code = await holder.waitForExit(timeout: .seconds(30))
            #expect(code == 0, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(holder.outputLines.last == "released", "holder: \(holder.output)")
            #expect(!LockFiles.exists(lockFile))
        }

        /// Who holds the lock matters more than the permission error (issue 11, item 10).
        @Test func aContenderThatCannotWriteTheDirectoryLearnsWhoHoldsTheLock() async throws {
            let sandbox = openSandbox()
            let done = sandbox.directory.file("done")

            // No lock there: the permission error itself.
            let alone = try await runAsNobody("try", sandbox.dataFile, in: sandbox)
            #expect(alone.exitStatusIfExited() == 1, "\(alone.output) \(alone.errorOutput)")
            #expect(alone.outputLines == ["error systemCallFailed \(EACCES)"], "\(alone.errorOutput)")
            #expect(alone.errorOutput.contains("Permission denied") || alone.errorOutput.contains("permission"), "\(alone.errorOutput)")

            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, ["until=\(done)"], in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            let contender = try await runAsNobody("try", sandbox.dataFile, in: sandbox)
            #expect(contender.exitStatusIfExited() == 3, "\(contender.output) \(contender.errorOutput)")
            #expect(contender.outputLines == ["busy \(holder.pid) \(Host.name)"], "\(contender.errorOutput)")
            #expect(sandbox.lockRecord?.pid == UInt32(holder.pid))

            LockFiles.write([], to: done)
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0)
            #expect(!sandbox.lockExists)
        }
    }
}
