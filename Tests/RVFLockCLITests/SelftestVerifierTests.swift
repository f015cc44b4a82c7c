@testable import RVFLock
import RVFLockSelftest
import SystemPackage
import Testing

/// The contention verifier and the verdict, on logs written by hand: each kind of
/// failure a real file system could produce must be caught, and a clean run must pass.
@Suite struct SelftestVerifierTests {
    /// A verifier over `lines`, 2 workers both ending normally, the run ending at 10 s.
    func verify(_ lines: [String], counter: UInt64?, exits: [Int32] = [0, 0]) -> ContentionSummary {
        ContentionVerifier(
            processes: exits.count, seconds: 10, until: 10_000_000_000,
            log: lines.joined(separator: "\n") + "\n", counter: counter,
            exits: exits.map { ($0, "") }, hung: 0
        ).summary()
    }

    @Test func aCleanRunWithATakeoverPasses() {
        let summary = verify(
            [
                "A 1 1 1000000000", "R 1 1 1100000000",
                "A 0 1 1200000000", "X 0 1 1300000000",
                "A 1 2 1302000000", "R 1 2 1400000000",
            ], counter: 3)
        #expect(summary.problems == [])
        #expect(summary.overlaps == 0)
        #expect(summary.acquisitions == 3)
        #expect(summary.perProcess == [1, 2])
        #expect(summary.abandonment == .takenOver(nanoseconds: 2_000_000))
        #expect(summary.check.result == .ok)
        #expect(summary.check.detail.contains("was taken over after 2.0 ms"))
    }

    @Test func overlappingHoldingsFail() {
        let summary = verify(
            [
                "A 0 1 1000000000", "A 1 1 1050000000", "R 0 1 1100000000", "R 1 1 1150000000",
            ], counter: 2)
        #expect(summary.overlaps == 1)
        #expect(summary.check.result == .failed)
        #expect(summary.check.detail.contains("process 2 acquired while process 1 still held the lock"))
    }

    @Test func lostIncrementsFailEvenWhenTheIntervalsLookApart() {
        let summary = verify(["A 0 1 1000000000", "R 0 1 1100000000", "A 1 1 1200000000", "R 1 1 1300000000"], counter: 1)
        #expect(summary.overlaps == 0)
        #expect(summary.check.result == .failed)
        #expect(summary.problems.contains { $0.contains("lost 1 increments") })
    }

    @Test func anAbandonedLockNobodyTakesOverFails() {
        let summary = verify(["A 0 1 1000000000", "X 0 1 1100000000"], counter: 1)
        #expect(summary.abandonment == .notTakenOver)
        #expect(summary.check.result == .failed)
    }

    @Test func anAbandonmentAtTheVeryEndIsNotCountedEitherWay() {
        let summary = verify(["A 0 1 9800000000", "X 0 1 9900000000"], counter: 1)
        #expect(summary.abandonment == .tooLate)
        #expect(summary.check.result == .ok)
    }

    @Test func aReleaseThatFindsTheLockTakenOverFails() {
        let summary = verify(
            [
                "A 0 1 1000000000", "R 0 1 1100000000", "E 0 takenOver releasing x.lock found it no longer ours",
            ], counter: 1, exits: [1, 0])
        #expect(summary.check.result == .failed)
        #expect(summary.problems.contains { $0.contains("1 releases found the lock file no longer their own") })
    }

    @Test func aHolderThatNeverLoggedItsReleaseFails() {
        let summary = verify(["A 0 1 1000000000"], counter: 1, exits: [137, 0])
        #expect(summary.check.result == .failed)
        #expect(summary.problems.contains { $0.contains("never logged its release") })
        #expect(summary.problems.contains { $0.contains("process 1 exited with status 137") })
    }

    @Test func aRunWithoutAnyAcquisitionFails() {
        #expect(verify([], counter: 0).check.result == .failed)
    }

    @Test func theLibraryRefusingTheFileSystemIsExit69WithItsOwnMessage() {
        let message = "x.lock is on a file system (fuse) that cannot hold an RVF writer lock: it refuses file locks (flock)"
        let summary = verify(["E 0 unsupportedFileSystem \(message)"], counter: 0, exits: [69, 69])
        let check = summary.check
        #expect(check.result == .failed)
        #expect(check.unsupportedMessage == message)
        let report = SelftestReport(directory: "/srv", json: true)
        report.add(check)
        let verdict = report.verdict()
        #expect(verdict.exitStatus == 69)
        #expect(verdict.text == "NOT TRUSTED: " + message)
    }

    /// The verdict and the library's error name what is missing in the same words.
    @Test(arguments: LockFileSystem.Requirement.allCases)
    func aMissingRequirementIsExit69InTheLibrarysWords(_ requirement: LockFileSystem.Requirement) {
        let report = SelftestReport(directory: "/srv", json: true)
        report.add(.ok("file_system", "file system", "fuse"))
        report.add(.failed("flock_exclusion", "flock between processes", "granted", missing: requirement, refusal: "flock: ENOLCK"))
        report.add(.failed("contention", "contention", "2 overlaps"))
        let verdict = report.verdict()
        #expect(verdict.exitStatus == 69)
        #expect(!verdict.trusted)

        let error = LockError.unsupportedFileSystem(
            FilePath("/srv/data.rvf.lock"), fileSystem: "unknown", missing: requirement.description)
        let sharedWords = "(unknown) that cannot hold an RVF writer lock: \(requirement)"
        #expect(error.description.contains(sharedWords))
        #expect(verdict.text.contains(sharedWords), "\(verdict.text)")
    }

    @Test func anUnexplainedFailureIsExit1AndNotTrusted() {
        let report = SelftestReport(directory: "/srv", json: true)
        report.add(.ok("flock_exclusion", "flock between processes", "ok"))
        report.add(.failed("sync", "sync policy", "fsync: EIO"))
        let verdict = report.verdict()
        #expect(verdict.exitStatus == 1)
        #expect(!verdict.trusted)
        #expect(verdict.text.contains("the sync policy check failed"))
    }

    @Test func aPassingRunOnANetworkFileSystemSaysWhatItCouldNotTest() {
        let report = SelftestReport(directory: "/mnt/nfs", json: true)
        report.fileSystem = LockFileSystem(type: FileSystemType(magic: 0x6969))
        report.add(.ok("contention", "contention", "fine"))
        report.add(.notAvailable("file_events", "file events (inotify)", "none"))
        let verdict = report.verdict()
        #expect(verdict.exitStatus == 0)
        #expect(verdict.text.hasPrefix("TRUSTED: the RVF lock can be trusted in /mnt/nfs (nfs, not local)"))
        #expect(verdict.text.contains("waiters poll (every 0.5 s at most)"))
        #expect(verdict.text.contains("this run tested processes on this machine only"))
    }
}
