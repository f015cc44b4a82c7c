#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// Observers (a shared `flock()`: `flock -s`, RVFLock's own `status` and `wait`)
    /// are never taken for a holder (issue 10, item 6).
    @Suite struct ObserverTests {
        /// A holder killed with SIGKILL: its lock is stale at once (the kernel proves it gone).
        func leaveDeadHoldersLock(in sandbox: LockSandbox) async throws -> pid_t {
            let holder = try CrossProcessTests.probe("hold", sandbox.dataFile, in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            await CrossProcessTests.crash(holder)
            return holder.pid
        }

        /// Another process holding a shared `flock()` on the lock file until `letGo` exists.
        func startObserver(in sandbox: LockSandbox, until letGo: String) async throws -> ChildProcess {
            let observer = try CrossProcessTests.probe("observe", sandbox.dataFile, ["until=\(letGo)"], in: sandbox)
            _ = try #require(await observer.waitForLine(startingWith: "sharing"), "observer: \(observer.output) \(observer.errorOutput)")
            return observer
        }

        @Test func statusCallsADeadHoldersLockStaleWhileAnObserverSharesIt() async throws {
            let sandbox = LockSandbox()
            let dead = try await leaveDeadHoldersLock(in: sandbox)
            let letGo = sandbox.directory.file("let-go")
            let observer = try await startObserver(in: sandbox, until: letGo)

            let status = try sandbox.lock().status()
            guard case .stale(let holder, .holderGone) = status else {
                Issue.record("a dead holder's lock with an observer is \(status)")
                return
            }
            #expect(holder.pid == UInt32(dead))
            #expect(holder.liveness == .kernelLockReleased)
            #expect(!status.description.contains("kernel lock on the file is held"), "\(status)")
            // Another process's status says the same.
            let other = try await CrossProcessTests.runProbe("status", sandbox.dataFile)
            #expect(other.lines.first?.hasPrefix("status stale pid=\(dead) ") == true, "\(other)")

            LockFiles.write([], to: letGo)
            #expect(await observer.waitForExit(timeout: .seconds(30)) == 0)
        }

        @Test func acquireTakesADeadHoldersLockOnceTheObserverLetsGo() async throws {
            let sandbox = LockSandbox()
            _ = try await leaveDeadHoldersLock(in: sandbox)
            let letGo = sandbox.directory.file("let-go")
            let observer = try await startObserver(in: sandbox, until: letGo)
            let lock = sandbox.lock()

            let acquisition = Task { () async throws(LockError) -> WriterID in
                let handle = try await lock.acquire(timeout: .seconds(60))
                let writer = handle.writerID
                try handle.release()
                return writer
            }
            try await Task.sleep(for: .milliseconds(300))
            LockFiles.write([], to: letGo)
            let result = await acquisition.result
            #expect(throws: Never.self) { try result.get() }
            #expect(await observer.waitForExit(timeout: .seconds(30)) == 0)
            #expect(!sandbox.lockExists)
        }

        @Test func breakLockWaitsForAnObserverThatLetsGoWithinTwoSeconds() async throws {
            let sandbox = LockSandbox()
            let dead = try await leaveDeadHoldersLock(in: sandbox)
            let letGo = sandbox.directory.file("let-go")
            let observer = try await startObserver(in: sandbox, until: letGo)
            let lock = sandbox.lock()

            let breaking = Task.detached { () throws(LockError) -> LockStatus? in try lock.breakLock() }
            try await Task.sleep(for: .milliseconds(200))
            LockFiles.write([], to: letGo)
            let removed = try await breaking.value
            guard case .stale(let holder, .holderGone)? = removed else {
                Issue.record("breakLock returned \(String(describing: removed))")
                return
            }
            #expect(holder.pid == UInt32(dead))
            #expect(!sandbox.lockExists)
            #expect(await observer.waitForExit(timeout: .seconds(30)) == 0)
        }

        @Test func breakLockRefusesNamingTheSharedLockWhileTheObserverHoldsOn() async throws {
            let sandbox = LockSandbox()
            _ = try await leaveDeadHoldersLock(in: sandbox)
            let letGo = sandbox.directory.file("let-go")
            let observer = try await startObserver(in: sandbox, until: letGo)
            let lock = sandbox.lock()
            let before = try #require(sandbox.lockBytes)

            let error = try #require(LockError.caught { () throws(LockError) in try lock.breakLock() })
            #expect(error.code == .busy, "\(error)")
            #expect(error.description.contains("shared lock"), "\(error)")
            #expect(!error.description.contains("alive"), "\(error)")
            #expect(error.status?.isBreakable == true, "\(String(describing: error.status))")
            #expect(sandbox.lockBytes == before)

            LockFiles.write([], to: letGo)
            #expect(await observer.waitForExit(timeout: .seconds(30)) == 0)
            #expect(try lock.breakLock()?.isBreakable == true)
            #expect(!sandbox.lockExists)
        }

        @Test func tryAcquireSucceedsWhileAnotherProcessLooksInATightLoop() async throws {
            let sandbox = LockSandbox()
            let scratch = LockSandbox()
            let dead = try Host.deadPID(scratch: scratch.directory)
            let stale = LockRecord(
                pid: dead, hostname: Host.name, timestampNanoseconds: LockFiles.nanoseconds(secondsAgo: 60),
                writerID: LockFiles.randomWriterID(), checksum: .crc32)
            let stop = scratch.directory.file("stop")
            let looker = try CrossProcessTests.probe("status", sandbox.dataFile, ["until=\(stop)"], in: scratch)
            _ = try #require(await looker.waitForLine(startingWith: "looping"), "looker: \(looker.errorOutput)")

            let lock = sandbox.lock()
            let rounds = Stress.count(short: 60, full: 300)
            var failures: [String] = []
            for round in 0..<rounds {
                // Every other round over a stale lock, which must be judged and broken under the looks.
                if round.isMultiple(of: 2) { sandbox.plant(stale) }
                do throws(LockError) {
                    let handle = try lock.tryAcquire()
                    try handle.release()
                } catch {
                    failures.append("round \(round): \(error)")
                }
            }
            #expect(looker.exitStatusIfExited() == nil, "the looker stopped early: \(looker.output) \(looker.errorOutput)")
            LockFiles.write([], to: stop)
            #expect(await looker.waitForExit(timeout: .seconds(30)) == 0)
            #expect(failures.isEmpty, "\(failures.count) of \(rounds) failed: \(failures.prefix(3))")
            let looked = try #require(looker.outputLines.last)
            print("tryAcquire under a looping status: \(rounds - failures.count)/\(rounds) succeeded; looker: \(looked)")
            #expect(looked.hasPrefix("looked "))
        }
    }
}
