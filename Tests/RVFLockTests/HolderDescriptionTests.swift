#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// How long a lock has been held, apart from when it was last refreshed, and
    /// the holder's program (issue 11, item 8): "pid 4242 (ingest) on build-7 for 12 min".
    @Suite struct HolderDescriptionTests {
        @Test func aHolderIsDescribedByItsProgramAndHowLongItHasHeldTheLock() async throws {
            let sandbox = LockSandbox()
            let done = sandbox.directory.file("done")
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, ["heartbeat-ms=100", "until=\(done)"], in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            try await Task.sleep(for: .milliseconds(1500))
            let lock = sandbox.lock()

            // A loaded machine may delay a heartbeat: look a few times for one just refreshed.
            var seen: LockHolder?
            _ = try await eventually(timeout: .seconds(10), every: .milliseconds(50)) {
                guard case .held(let current) = try lock.status() else { return false }
                seen = current
                return current.age < .seconds(1)
            }
            let current = try #require(seen)
            #expect(current.age < .seconds(1), "the heartbeat never refreshed the record: \(current)")
            let heldFor = try #require(current.heldFor, "no birth time on \(sandbox.directory.path)")
            #expect(
                heldFor >= .milliseconds(1400), "held for \(heldFor) after 1.5 s: the time since a refresh, not since the lock was taken")
            #expect(heldFor > current.age + .milliseconds(400))
            #expect(current.program == "rvflock-probe")
            #expect(current.pid == UInt32(holder.pid))

            let pattern =
                #"^pid \#(holder.pid) \(rvflock-probe\) on \#(NSRegularExpression.escapedPattern(for: Host.name)) for [0-9]+(\.[0-9])? s$"#
            #expect(current.description.range(of: pattern, options: .regularExpression) != nil, "\(current.description)")

            // The same words reach the contender's error.
            let error = try #require(LockError.caught { () throws(LockError) in try lock.tryAcquire() })
            #expect(error.code == .busy)
            #expect(error.description.contains("pid \(holder.pid) (rvflock-probe) on \(Host.name) for "), "\(error)")

            LockFiles.write([], to: done)
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0)
        }
    }
}
