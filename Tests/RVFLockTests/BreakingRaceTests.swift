#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension ManyProcessTests {
    /// An RVFLock breaker racing the reference, which takes no kernel lock (issue 10, item 4).
    ///
    /// The breaker judges a stale lock and checks it is the file judged; in the
    /// microseconds before it removes it, the reference deletes the same stale
    /// file and creates its own. The breaker is paused there
    /// (`TestingHooks.beforeRemovingJudgedFile`) to make that window as wide as needed.
    @Suite(
        .enabled(
            if: ReferenceHarness.isAvailable,
            "needs rustc and the reference: ../shared/seed/locking.rs beside the package, or RVFLOCK_REFERENCE_DIR"))
    struct BreakingRaceTests {
        @Test func aBreakerResumingAfterTheReferenceTookTheLockLeavesTheReferencesLockInPlace() async throws {
            let sandbox = LockSandbox()
            try sandbox.plantStaleReferenceLock()
            let staleInode = try #require(LockFiles.inode(sandbox.lockFile))
            let resume = sandbox.directory.file("resume")

            let breaker = try CrossProcessTests.probe("break", sandbox.dataFile, ["pause=\(resume)"], in: sandbox)
            _ = try #require(await breaker.waitForLine(startingWith: "pausing"), "breaker: \(breaker.output) \(breaker.errorOutput)")
            // The breaker has judged the stale file and checked it; the reference now takes the lock.
            let harness = try await ReferenceHarness.shared.executable()
            let reference = try ChildProcess(
                harness, ["hold", sandbox.dataFile, "3000"], environment: ["HOSTNAME": Host.name],
                outputIn: sandbox.directory.path, name: "reference-hold")
            let acquired = try #require(
                await reference.waitForLine(startingWith: "acquired"), "reference: \(reference.output) \(reference.errorOutput)")
            #expect(acquired == "acquired \(reference.pid)")
            let referenceBytes = try #require(sandbox.lockBytes)
            let referenceInode = try #require(LockFiles.inode(sandbox.lockFile))
            #expect(referenceInode != staleInode)
            #expect(sandbox.lockRecord?.pid == UInt32(reference.pid))

            LockFiles.write([], to: resume)
            let code = await breaker.waitForExit(timeout: .seconds(30))
            // It finds a live holder now, and says so; it never reports a removal.
            #expect(code == 3, "breaker: \(breaker.output) \(breaker.errorOutput)")
            #expect(breaker.outputLines.last?.hasPrefix("refused notStale") == true, "breaker: \(breaker.output)")
            #expect(!breaker.output.contains("broke"))

            #expect(LockFiles.inode(sandbox.lockFile) == referenceInode, "the reference's lock file is gone or replaced")
            #expect(sandbox.lockBytes == referenceBytes)
            // No private name of the breaker's is left behind.
            #expect(sandbox.directory.entries.filter { $0.hasPrefix(".data.rvf.lock.") }.isEmpty, "\(sandbox.directory.entries)")

            // The reference, at its release, still finds its own lock.
            #expect(await reference.waitForExit(timeout: .seconds(30)) == 0, "reference: \(reference.output) \(reference.errorOutput)")
            #expect(reference.outputLines.last == "released", "the reference lost its lock: \(reference.output)")
            #expect(!sandbox.lockExists)
        }

        /// The same race between two users of a shared directory (issue 14, item 1):
        /// the reference runs as one user, the breaker as another. With
        /// `fs.protected_hardlinks=1` the breaker may not `link()` the other user's
        /// file back; it must still put it back (a rename needs no ownership) and
        /// never unlink it.
        @Test(.enabled(if: ChildProcess.User.unavailableReason == nil, "needs root and setpriv, to run two other users"))
        func aBreakerOfAnotherUserPutsTheReferencesLockBackInASharedDirectory() async throws {
            let sandbox = LockSandbox()
            // Shared by every user, without the sticky bit (which forbids renaming others' files).
            #expect(chmod(sandbox.directory.path, 0o777) == 0)
            try sandbox.plantStaleReferenceLock()
            let resume = sandbox.directory.file("resume")

            let breaker = try CrossProcessTests.probe("break", sandbox.dataFile, ["pause=\(resume)"], in: sandbox, user: .nobody)
            _ = try #require(await breaker.waitForLine(startingWith: "pausing"), "breaker: \(breaker.output) \(breaker.errorOutput)")
            let harness = try await ReferenceHarness.shared.executable()
            let reference = try ChildProcess(
                harness, ["hold", sandbox.dataFile, "3000"], environment: ["HOSTNAME": Host.name],
                user: .neighbour, outputIn: sandbox.directory.path, name: "reference-hold")
            _ = try #require(
                await reference.waitForLine(startingWith: "acquired"), "reference: \(reference.output) \(reference.errorOutput)")
            let referenceInode = try #require(LockFiles.inode(sandbox.lockFile))
            #expect(LockFiles.owner(sandbox.lockFile) == ChildProcess.User.neighbour.uid)

            LockFiles.write([], to: resume)
            let code = await breaker.waitForExit(timeout: .seconds(30))
            #expect(code == 3, "breaker: \(breaker.output) \(breaker.errorOutput)")
            #expect(breaker.outputLines.last?.hasPrefix("refused notStale") == true, "breaker: \(breaker.output)")
            #expect(LockFiles.inode(sandbox.lockFile) == referenceInode, "the other user's lock file is gone or replaced")
            #expect(sandbox.directory.entries.filter { $0.hasPrefix(".data.rvf.lock.") }.isEmpty, "\(sandbox.directory.entries)")

            #expect(await reference.waitForExit(timeout: .seconds(30)) == 0, "reference: \(reference.output) \(reference.errorOutput)")
            #expect(reference.outputLines.last == "released", "the reference lost its lock: \(reference.output)")
        }
    }
}
