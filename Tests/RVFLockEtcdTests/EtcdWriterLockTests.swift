#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
@testable import RVFLockEtcd
import Synchronization
import RVFLockTestSupport
import Testing

extension EtcdTests {
    @Suite struct WriterLockTests {
        func lock(
            _ sandbox: Sandbox, _ cluster: EtcdCluster, ttl: Duration = .seconds(4),
            requestTimeout: Duration = .seconds(2)
        ) throws -> EtcdWriterLock {
            var options = try EtcdOptions(endpointList: cluster.endpoints)
            options.leaseTTL = ttl
            options.requestTimeout = requestTimeout
            return EtcdWriterLock(dataFile: sandbox.path + "/data.rvf", etcd: options)
        }

        @Test func eachHolderGetsALargerFencingTokenAndReleaseEmptiesTheLine() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            #expect(lock.keyName == sandbox.path + "/data.rvf")
            let first = try await lock.withLock(timeout: .seconds(10)) { scope in
                #expect(scope.isHeld)
                try scope.checkHeld()
                #expect(FileManager.default.fileExists(atPath: sandbox.path + "/data.rvf.lock"))
                let line = try await lock.line()
                #expect(line.holder?.fencingToken == scope.fencingToken)
                #expect(line.holder?.pid == getpid())
                return scope.fencingToken
            }
            #expect(!FileManager.default.fileExists(atPath: sandbox.path + "/data.rvf.lock"))
            #expect(try await lock.line().holder == nil)
            let handle = try await lock.acquire(timeout: .seconds(10))
            #expect(handle.fencingToken > first)
            try await handle.release()
            #expect(try await lock.line().holder == nil)
        }

        @Test func tryingWhileHeldIsBusyNamingTheHolderAndLeavesNoKeyBehind() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let held = try await lock.acquireLease(timeout: .seconds(10))
            let error = await #expect(throws: LockError.self) { _ = try await lock.acquireLease(timeout: nil, waiting: false) }
            #expect(error?.code == .busy)
            #expect(error?.description.contains("token \(held.fencingToken)") == true, "\(String(describing: error))")
            #expect(error?.description.contains("pid \(getpid())") == true, "\(String(describing: error))")
            let line = try await lock.line()
            #expect(line.holder?.fencingToken == held.fencingToken)
            #expect(line.waiting.isEmpty, "the refused writer's key must be gone: \(line)")
            await held.release()
        }

        @Test func aWaitThatTimesOutThrowsTimedOutAndLeavesNoKeyBehind() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let held = try await lock.acquireLease(timeout: .seconds(10))
            let started = ContinuousClock.now
            let error = await #expect(throws: LockError.self) { _ = try await lock.acquireLease(timeout: .milliseconds(600)) }
            #expect(error?.code == .timedOut)
            #expect(ContinuousClock.now - started >= .milliseconds(600))
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(try await lock.line().waiting.isEmpty)
            await held.release()
        }

        @Test func waitersGetTheLeaseInTheOrderTheyQueued() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let first = try await lock.acquireLease(timeout: .seconds(10))
            let order = Recorder<Int>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<4 {
                    // Queue one after the other, so that the order is known.
                    #expect(await eventually { (try? await lock.line().waiting.count) == index })
                    group.addTask {
                        let lease = try await lock.acquireLease(timeout: .seconds(30))
                        order.append(index)
                        try await Task.sleep(for: .milliseconds(20))
                        await lease.release()
                    }
                }
                #expect(await eventually { (try? await lock.line().waiting.count) == 4 })
                await first.release()
                try await group.waitForAll()
            }
            #expect(order.values == [0, 1, 2, 3])
        }

        @Test func aWaiterStillWaitsForTheHolderWhenTheWriterBetweenThemGivesUp() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let first = try await lock.acquireLease(timeout: .seconds(10))
            let quitter = Task { try await lock.acquireLease(timeout: .seconds(1)) }
            #expect(await eventually { (try? await lock.line().waiting.count) == 1 })
            let released = Recorder<Void>()
            let last = Task {
                let lease = try await lock.acquireLease(timeout: .seconds(30))
                let heldBeforeRelease = released.values.isEmpty
                await lease.release()
                return heldBeforeRelease
            }
            #expect(await eventually { (try? await lock.line().waiting.count) == 2 })
            // The writer between them times out: its key goes, and the last one is still behind the holder.
            await #expect(throws: LockError.self) { _ = try await quitter.value }
            #expect(await eventually { (try? await lock.line().waiting.count) == 1 })
            try await Task.sleep(for: .milliseconds(300))
            released.append(())
            await first.release()
            #expect(try await last.value == false, "the last waiter took the lease while the first still held it")
        }

        @Test func aWaiterWhoseKeyIsDeletedLosesItsPlaceAndHoldsNothing() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let first = try await lock.acquireLease(timeout: .seconds(10))
            let waiter = Task { try await lock.acquireLease(timeout: .seconds(30)) }
            #expect(await eventually { (try? await lock.line().waiting.count) == 1 })
            let waiting = try #require(try await lock.line().waiting.first)
            let delete = try await cluster.etcdctl(["del", waiting.key])
            #expect(delete.status == 0, "\(delete)")
            let error = await #expect(throws: EtcdLockError.self) { _ = try await waiter.value }
            #expect(error?.description.contains("place in line") == true, "\(String(describing: error))")
            await first.release()
        }

        @Test func aRevokedLeaseCancelsTheBodyAndWithLockThrowsLockLost() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let started = ContinuousClock.now
            let seen = Mutex<(sleepCancelled: Bool, heldAfter: Bool, checkThrew: Bool)>((false, true, false))
            let error = await #expect(throws: LockError.self) {
                try await lock.withLock(timeout: .seconds(10)) { scope in
                    let revoke = try await cluster.etcdctl(["lease", "revoke", String(UInt64(bitPattern: scope.lease.leaseID), radix: 16)])
                    guard revoke.status == 0 else { throw ClusterFailure("\(revoke)") }
                    // The loss cancels this task: the sleep ends early.
                    var sleepCancelled = false
                    do { try await Task.sleep(for: .seconds(30)) } catch is CancellationError { sleepCancelled = true }
                    var checkThrew = false
                    do throws(LockError) { try scope.checkHeld() } catch { checkThrew = error.code == .lockLost }
                    seen.withLock { $0 = (sleepCancelled, scope.isHeld, checkThrew) }
                }
            }
            #expect(error?.code == .lockLost)
            #expect(error?.description.contains("etcd lease") == true, "\(String(describing: error))")
            let observed = seen.withLock { $0 }
            #expect(observed.sleepCancelled)
            #expect(!observed.heldAfter)
            #expect(observed.checkThrew)
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(!FileManager.default.fileExists(atPath: sandbox.path + "/data.rvf.lock"), "the lock file is released too")
        }

        @Test func aDeletedKeyIsALossReportedToTheLossHandlers() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let lease = try await lock.acquireLease(timeout: .seconds(10))
            try await expectLossOnDeletingTheKey(of: lease, cluster)
        }

        @Test func aWaiterThatBecameHolderSeesItsKeyDeletedThroughTheWatchItWaitedWith() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let first = try await lock.acquireLease(timeout: .seconds(10))
            let waiter = Task { try await lock.acquireLease(timeout: .seconds(30)) }
            #expect(await eventually { (try? await lock.line().waiting.count) == 1 })
            await first.release()
            // The line's watch, which told the waiter it was first, now guards its key.
            let lease = try await waiter.value
            try await expectLossOnDeletingTheKey(of: lease, cluster) {
                // A deletion of another key of the line is not this holder's loss.
                let other = lock.keyPrefix + "0"
                #expect(try await cluster.etcdctl(["put", other, "x"]).status == 0)
                #expect(try await cluster.etcdctl(["del", other]).status == 0)
                try await Task.sleep(for: .milliseconds(200))
                #expect(lease.isHeld)
            }
        }

        /// Deletes `lease`'s key with etcdctl after `first`, and expects the loss: not held
        /// within 5 s, a loss handler registered before `first` called once, the reason
        /// naming the deletion; then releases.
        func expectLossOnDeletingTheKey(
            of lease: EtcdLease, _ cluster: EtcdCluster, after first: () async throws -> Void = {}
        ) async throws {
            let called = Recorder<Void>()
            lease.onLoss { called.append(()) }
            try await first()
            let delete = try await cluster.etcdctl(["del", lease.key])
            #expect(delete.status == 0, "\(delete)")
            #expect(await eventually(timeout: .seconds(5)) { !lease.isHeld })
            #expect(called.values.count == 1)
            #expect(lease.lossReason?.contains("deleted") == true, "\(String(describing: lease.lossReason))")
            await lease.release()
        }

        @Test func aReleasePreparedAheadDeletesTheKeyBeforeItRevokesTheLease() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let lease = try await lock.acquireLease(timeout: .seconds(10))
            lease.prepareRelease()
            let keysLeft = Recorder<String>()
            await lease.release(afterKeyDeleted: {
                // The lease is not revoked yet: only the deletion can have removed the key.
                let left = try? await cluster.etcdctl(["get", "--prefix", "--keys-only", lock.keyPrefix])
                keysLeft.append(left?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "etcdctl failed")
            })
            #expect(keysLeft.values == [""], "keys left when the deletion was answered: \(keysLeft.values)")
        }

        @Test func theLockFileStillExcludesWritersThatUseOnlyIt() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            try await lock.withLock(timeout: .seconds(10)) { _ in
                let fileOnly = try await ChildProcess.run(
                    [Tools.rvfLock, "exec", "-n", sandbox.path + "/data.rvf", "true"],
                    in: sandbox.path)
                #expect(fileOnly.status == 75, "\(fileOnly)")
            }
        }

        @Test func etcdctlLockOnTheSameKeyExcludesAndIsExcluded() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let lock = try lock(sandbox, cluster)
            let name = String(lock.keyPrefix.dropLast())
            let lease = try await lock.acquireLease(timeout: .seconds(10))
            // etcdctl lock waits behind us, and gets the lock once we release.
            let anchor = try ChildProcess(
                [EtcdCluster.etcdctl!, "--endpoints", cluster.endpoints, "lock", name, "echo", "got it"],
                environment: ["ETCDCTL_API": "3"], outputIn: sandbox.path, name: "etcdctl")
            #expect(await eventually { (try? await lock.line().waiting.count) == 1 })
            #expect(!anchor.hasExited())
            await lease.release()
            #expect(await anchor.waitForExit(timeout: .seconds(20)) == 0)
            #expect(anchor.output.contains("got it"))
        }
    }
}
