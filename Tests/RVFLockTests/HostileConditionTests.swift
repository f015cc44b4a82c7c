#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension ManyProcessTests {
    /// Waits and holds under tight limits and hostile hosts (issue 14, items 4, 5, 6, 10, 11).
    ///
    /// Each waiter here waits for a holder that keeps the lock until the test lets it
    /// go: a wait that ended while the holder still held it ended by its own limit,
    /// not by the release.
    @Suite struct HostileConditionTests {
        let sandbox = LockSandbox()

        /// A holder that keeps the lock until its standard input closes.
        func holder() async throws -> ChildProcess {
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, ["stdin=1"], in: sandbox, keepsStandardInputOpen: true)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.output) \(holder.errorOutput)")
            return holder
        }

        /// `rvflock-probe MODE FILE SETTINGS` under bash, with `limits` (`ulimit` options) set first.
        func probe(under limits: String, _ mode: String, _ settings: [String], user: ChildProcess.User? = nil) throws -> ChildProcess {
            let command = (["exec", TestResources.probe, mode, sandbox.dataFile] + settings).joined(separator: " ")
            return try ChildProcess(
                "/bin/bash", ["-c", "ulimit \(limits) && \(command)"], user: user,
                outputIn: sandbox.directory.path, name: "limited-\(mode)")
        }

        func expectStillHolding(_ holder: ChildProcess, sourceLocation: SourceLocation = #_sourceLocation) async {
            #expect(holder.exitStatusIfExited() == nil, "the holder had already let go", sourceLocation: sourceLocation)
            holder.closeStandardInput()
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0, "holder: \(holder.output)", sourceLocation: sourceLocation)
        }

        /// `ulimit -i 0`: no real-time signal can be queued, so no per-thread timer can
        /// be made; the wait polls instead of blocking with nothing to end it.
        @Test func aTimedWaitWithNoSignalQueueSpaceEndsAtItsTimeout() async throws {
            let holder = try await holder()
            let waiter = try probe(under: "-i 0", "wait", ["timeout-ms=500"])
            #expect(await waiter.waitForExit(timeout: .seconds(60)) == 5, "waiter: \(waiter.output) \(waiter.errorOutput)")
            #expect(waiter.outputLines.last == "timeout")
            await expectStillHolding(holder)
        }

        @Test func aCancelledAsyncWaitWithNoSignalQueueSpaceEndsWhenCancelled() async throws {
            let holder = try await holder()
            let waiter = try probe(under: "-i 0", "async-wait", ["timeout-ms=60000", "cancel-ms=300"])
            #expect(await waiter.waitForExit(timeout: .seconds(60)) == 8, "waiter: \(waiter.output) \(waiter.errorOutput)")
            #expect(waiter.outputLines.last == "cancelled")
            await expectStillHolding(holder)
        }

        /// The host installs its own handler, with `SA_RESTART`, on the library's signal
        /// while a wait is blocked with it: the wait still ends at its timeout, and the
        /// host's handler is not run over and over.
        @Test func aWaitWhoseSignalTheHostTakesOverStillEndsAtItsTimeout() async throws {
            let holder = try await holder()
            let waiter = try CrossProcessTests.probe("hijack", sandbox.dataFile, ["timeout-ms=1500", "hijack-after-ms=300"], in: sandbox)
            #expect(await waiter.waitForExit(timeout: .seconds(60)) == 5, "waiter: \(waiter.output) \(waiter.errorOutput)")
            let lines = waiter.outputLines
            #expect(lines.contains { $0.hasPrefix("hijacked ") }, "\(lines)")
            #expect(lines.contains("timeout"), "\(lines)")
            let runs = lines.last.flatMap { $0.hasPrefix("handler-runs ") ? Int($0.dropFirst("handler-runs ".count)) : nil }
            #expect(runs.map { $0 <= 1 } == true, "the host's handler ran \(String(describing: runs)) times")
            await expectStillHolding(holder)
        }

        /// Hundreds of async waits, each blocked in the kernel's queue for a lock held
        /// by another process, all wait at once (Dispatch's pool, capped at about 255
        /// threads, made the rest wait for a thread and so miss their timeouts), the
        /// host's Dispatch work runs meanwhile, and every wait ends by its timeout.
        @Test func hundredsOfAsyncWaitsLeaveDispatchFreeAndEndAtTheirTimeouts() async throws {
            // Beyond Dispatch's 255 threads either way.
            let count = Stress.count(short: 300, full: 500)
            let holder = try CrossProcessTests.probe(
                "hold-many", sandbox.dataFile, ["count=\(count)", "stdin=1"],
                in: sandbox, keepsStandardInputOpen: true)
            _ = try #require(
                await holder.waitForLine(startingWith: "acquired-all", timeout: .seconds(120)),
                "holder: \(holder.output) \(holder.errorOutput)")
            let waiter = try CrossProcessTests.probe(
                "async-many", sandbox.dataFile,
                ["count=\(count)", "timeout-ms=4000", "dispatch-items=64"], in: sandbox)
            #expect(await waiter.waitForExit(timeout: .seconds(120)) == 0, "waiter: \(waiter.output) \(waiter.errorOutput)")
            // Every wait waited at once (none queued for a thread until another ended).
            #expect(
                waiter.outputLines == ["dispatch-done waits-ended=false", "waits timeout=\(count) other=0 together=\(count)"],
                "\(waiter.output)")
            holder.closeStandardInput()
            #expect(await holder.waitForExit(timeout: .seconds(60)) == 0, "holder: \(holder.output) \(holder.errorOutput)")
        }

        /// A process at its thread limit cannot start the thread that keeps a lock fresh:
        /// it is refused the lock, which stays free, instead of holding it with no
        /// heartbeat and no loss detection. (Run as an unused uid: `ulimit -u` counts
        /// the threads of every process of the user, and root is exempt from it; with
        /// `-u 1` the process's main thread is all it may have.)
        @Test(.enabled(if: ChildProcess.User.unavailableReason == nil, "needs root and setpriv, to run as an unused uid"))
        func aProcessAtItsThreadLimitIsRefusedTheLockAndLeavesItFree() async throws {
            #expect(chmod(sandbox.directory.path, 0o777) == 0)
            let limited = try probe(under: "-u 1", "try", [], user: .unused)
            #expect(await limited.waitForExit(timeout: .seconds(60)) == 1, "probe: \(limited.output) \(limited.errorOutput)")
            #expect(limited.outputLines.last == "error systemCallFailed \(EAGAIN)", "\(limited.output)")
            #expect(limited.errorOutput.contains("pthread_create"), "\(limited.errorOutput)")
            #expect(limited.errorOutput.contains("the lock was not taken"), "\(limited.errorOutput)")
            #expect(!sandbox.lockExists)
        }

        /// A holder may start the monitor thread, which reports its lock file's
        /// removal, only once the lock has been held for its watch delay; at its
        /// thread limit by then, it still notices the loss, at its next heartbeat.
        /// (`-u 2`: the main thread and the heartbeat's.)
        @Test(.enabled(if: ChildProcess.User.unavailableReason == nil, "needs root and setpriv, to run as an unused uid"))
        func aHolderThatCannotStartItsWatchNoticesTheLossAtItsHeartbeat() async throws {
            #expect(chmod(sandbox.directory.path, 0o777) == 0)
            let holder = try probe(under: "-u 2", "hold", ["nowait=1", "heartbeat-ms=100", "hold-ms=30000"], user: .unused)
            _ = try #require(
                await holder.waitForLine(startingWith: "acquired", timeout: .seconds(60)), "holder: \(holder.output) \(holder.errorOutput)")
            // Past the watch delay, when the monitor thread would have started: it has not
            // (bash exec'd the probe, so its pid is the probe's).
            try await Task.sleep(for: .milliseconds(200))
            let threads = ProcFS.threadCount(pid: holder.pid)
            #expect(threads == 2, "the holder runs \(String(describing: threads)) threads")
            #expect(unlink(sandbox.lockFile) == 0)
            #expect(await holder.waitForExit(timeout: .seconds(60)) == 4, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(holder.outputLines.last == "lost", "\(holder.output)")
        }

        /// A child forked without `exec` shares its parent's descriptors, not its lock:
        /// it is told so, and neither releases nor checks the parent's lock, whose
        /// heartbeat goes on. Its own writer ids are its own, not its parent's next.
        @Test func aForkedChildCannotReleaseItsParentsLock() async throws {
            let parent = try CrossProcessTests.probe("fork", sandbox.dataFile, ["heartbeat-ms=50"], in: sandbox)
            #expect(await parent.waitForExit(timeout: .seconds(60)) == 0, "probe: \(parent.output) \(parent.errorOutput)")
            #expect(
                Array(parent.outputLines.dropFirst()) == [
                    "child-release heldByParentProcess", "child-check heldByParentProcess", "child-isHeld false",
                    "child-try busy", "child-exit 0", "nonces-differ", "parent-check ok", "parent-heartbeat ok", "released",
                ], "\(parent.output)")
            #expect(!sandbox.lockExists)
        }
    }
}
