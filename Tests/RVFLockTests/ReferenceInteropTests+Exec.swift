#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests.ReferenceInteropTests {
    /// `rvf-lock exec` killed while its command runs (issue 15, item 5). The reference judges
    /// a holder on this host by the record's pid and age alone: it must not take the lock while
    /// anything the command started lives, however long without a heartbeat, and it may once
    /// the last of them has ended and the 30 s have passed.
    @Test func theReferenceWaitsForTheCommandOfAKilledRvfLockExec() async throws {
        let sandbox = LockSandbox()
        let directory = sandbox.directory.path
        let holder = try ChildProcess(
            TestResources.rvfLock,
            [
                "exec", "-q", sandbox.dataFile, "--", "sh", "-c",
                "echo $PPID > \(directory)/keeper; while [ ! -e \(directory)/stop ]; do sleep 0.02; done",
            ],
            outputIn: directory, name: "rvf-lock-exec")
        let keeper = try #require(await pidWritten(to: directory + "/keeper"), "the command never ran: \(holder.errorOutput)")
        #expect(sandbox.lockRecord?.pid == UInt32(keeper))

        await CrossProcessTests.crash(holder)
        // Stands for the command running on for more than 30 s with no heartbeat: the
        // record's timestamp is set back, in place, as nothing rewrites it any more.
        LockFiles.setTimestamp(sandbox.lockFile, to: LockFiles.nanoseconds(secondsAgo: 60))
        let meanwhile = try await referenceTry(sandbox, environment: Self.sameHost)
        #expect(meanwhile.status == 3, "the reference took the lock while the command ran: \(meanwhile)")
        #expect(meanwhile.lines == ["busy"])

        #expect(FileManager.default.createFile(atPath: directory + "/stop", contents: nil))
        // Gone means reaped (by init, or the nearest subreaper), which may take a moment:
        // the reference takes a zombie for a live process.
        #expect(await eventually { access("/proc/\(keeper)", F_OK) != 0 }, "the keeper outlived the command")
        let after = try await referenceTry(sandbox, environment: Self.sameHost)
        #expect(after.status == 0, "\(after)")
        #expect(after.lines == ["acquired"])
    }

    /// Waits until `path` holds a line with a pid (written by the command).
    private func pidWritten(to path: String) async -> pid_t? {
        var pid: pid_t?
        _ = await eventually {
            pid = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
                $0.hasSuffix("\n") ? pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) : nil
            }
            return pid != nil
        }
        return pid
    }
}
