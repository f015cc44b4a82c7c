#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing
import RVFLockSpawn

extension CrossProcessTests {
    /// NFSv3 answers `ESTALE` for a file removed on the server while it was open here
    /// (issue 14, item 12): the lock file was replaced, which is no system error. The
    /// error is injected with strace, into one `flock()` of a contender and of an observer.
    @Suite(.enabled(if: Spawn.executable(named: "strace") != nil, "needs strace (apt-get install strace)"))
    struct StaleHandleTests {
        let sandbox = LockSandbox()

        /// Runs the probe with the `call`-th `flock()` failing with ESTALE.
        func probe(_ mode: String, failingFlock call: Int) async throws -> ChildProcess {
            let strace = try #require(Spawn.executable(named: "strace"))
            let child = try ChildProcess(
                strace,
                [
                    "-f", "-o", "/dev/null", "-e", "trace=flock",
                    "-e", "inject=flock:error=ESTALE:when=\(call)",
                    TestResources.probe, mode, sandbox.dataFile,
                ],
                outputIn: sandbox.directory.path, name: "stale-\(mode)")
            _ = await child.waitForExit(timeout: .seconds(60))
            return child
        }

        @Test func aContenderWhoseFlockSaysStaleLooksAgainAndFindsTheHolder() async throws {
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, ["stdin=1"], in: sandbox, keepsStandardInputOpen: true)
            let acquired = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            // flock #1 is on the contender's own new file; #2 is its try on the holder's.
            let contender = try await probe("try", failingFlock: 2)
            #expect(contender.exitStatusIfExited() == 3, "contender: \(contender.output) \(contender.errorOutput)")
            #expect(contender.outputLines.last == "busy \(holder.pid) \(Host.name)", "\(contender.output) \(acquired)")
            holder.closeStandardInput()
            _ = await holder.waitForExit(timeout: .seconds(30))
        }

        @Test func anObserverWhoseFlockSaysStaleLooksAgain() async throws {
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, ["stdin=1"], in: sandbox, keepsStandardInputOpen: true)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            let observer = try await probe("status", failingFlock: 1)
            #expect(observer.exitStatusIfExited() == 0, "observer: \(observer.output) \(observer.errorOutput)")
            #expect(observer.outputLines.first?.hasPrefix("status held pid=\(holder.pid) ") == true, "\(observer.output)")
            holder.closeStandardInput()
            _ = await holder.waitForExit(timeout: .seconds(30))
        }
    }
}
