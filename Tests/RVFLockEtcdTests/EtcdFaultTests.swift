#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import Testing

extension EtcdTests {
    /// The failures of issue 18's table, each on a cluster of its own: a paused
    /// holder, a killed leader, a lost quorum.
    @Suite struct FaultTests {
        /// A holder's command: says it holds, then holds until the test lets it go
        /// (`letGo`), so that a hold lasts as long as the check needs and no longer.
        static func holdUntilGo(in directory: String) -> String {
            "touch \(directory)/holding; while [ ! -e \(directory)/go ]; do sleep 0.05; done; echo done"
        }

        /// Ends a `holdUntilGo` hold at `instant`.
        static func letGo(in directory: String, at instant: ContinuousClock.Instant) async throws {
            try await Task.sleep(until: instant)
            _ = FileManager.default.createFile(atPath: directory + "/go", contents: nil)
        }

        @Test func aPausedHolderLosesItsLeaseTheNextGetsALargerTokenAndTheLateWriteIsRefused() async throws {
            let cluster = try await EtcdCluster()
            let sandbox = Sandbox()
            // Two views of one data file, as two machines whose file locks do not see
            // each other (a network file system that let a paused client's lock go):
            // only the lease and the fencing token stand between the writers.
            try FileManager.default.createDirectory(atPath: sandbox.path + "/a", withIntermediateDirectories: false)
            try FileManager.default.createDirectory(atPath: sandbox.path + "/b", withIntermediateDirectories: false)
            let fileA = sandbox.path + "/a/data.rvf"
            let fileB = sandbox.path + "/b/data.rvf"
            _ = FileManager.default.createFile(atPath: fileA, contents: nil)
            try FileManager.default.linkItem(atPath: fileA, toPath: fileB)
            let environment = [
                "RVF_LOCK_ETCD": cluster.endpoints, "RVF_LOCK_ETCD_TTL": "2", "RVF_LOCK_ETCD_NAME": "shared",
                "PATH": Tools.binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            ]
            let s = sandbox.path
            let scriptA = """
                trap '' TERM; echo $RVF_LOCK_FENCE > \(s)/a.token
                rvf-lock-etcd fence \(fileA) -- sh -c 'echo A1 >> \(fileA)'; touch \(s)/a.ready
                while [ ! -e \(s)/go ]; do sleep 0.05; done
                rvf-lock-etcd fence \(fileA) -- sh -c 'echo A2-late >> \(fileA)'; echo $? > \(s)/a.fence
                """
            let writerA = try ChildProcess(
                [Tools.rvfLock, "exec", "--kill-after", "10", fileA, "--", "sh", "-c", scriptA],
                environment: environment, newSession: true, outputIn: s, name: "a")
            #expect(await eventually { FileManager.default.fileExists(atPath: s + "/a.ready") }, "\(writerA.errorOutput)")
            let helperA = try #require(ProcessFinder.leaseHelper(of: fileA))
            let tokenA = try #require(
                Int64(
                    try String(contentsOfFile: s + "/a.token", encoding: .utf8)
                        .trimmingCharacters(in: .whitespacesAndNewlines)))
            // Pause the holder: rvf-lock and the lease's holder stop, the keep-alive with them.
            kill(helperA, SIGSTOP)
            writerA.send(SIGSTOP)
            let paused = ContinuousClock.now

            let writerB = try await ChildProcess.run(
                [
                    Tools.rvfLock, "exec", "-w", "30", fileB, "--", "sh", "-c",
                    "echo $RVF_LOCK_FENCE > \(s)/b.token; rvf-lock-etcd fence \(fileB) -- sh -c 'echo B >> \(fileB)'",
                ],
                environment: environment, in: s)
            #expect(writerB.status == 0, "\(writerB)")
            let waitedForA = ContinuousClock.now - paused
            #expect(waitedForA >= .seconds(1), "B got the lease before A's could expire")
            let tokenB = try #require(
                Int64(
                    try String(contentsOfFile: s + "/b.token", encoding: .utf8)
                        .trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(tokenB > tokenA)

            // A's command writes late, then A runs again and learns of its loss.
            _ = FileManager.default.createFile(atPath: s + "/go", contents: nil)
            let fenceStatus = await eventuallyLine(in: s + "/a.fence")
            kill(helperA, SIGCONT)
            writerA.send(SIGCONT)
            #expect(fenceStatus == "70")
            #expect(await writerA.waitForExit(timeout: .seconds(30)) == 70, "\(writerA.errorOutput)")
            #expect(writerA.errorOutput.contains("token \(tokenB) is stamped"), "\(writerA.errorOutput)")
            #expect(try String(contentsOfFile: fileA, encoding: .utf8) == "A1\nB\n")
            print(
                "EtcdFaultTests: holder paused with a 2 s lease: the next writer had the lock and had written "
                    + "\(waitedForA) after the pause (token \(tokenA) -> \(tokenB)); the late write was refused")
        }

        @Test func killingTheLeaderDuringAHoldKeepsTheHold() async throws {
            let cluster = try await EtcdCluster()
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            // 5 s: an election on a loaded 2-core machine (swift test runs its suites
            // in parallel) has taken long enough to cost a 3 s lease.
            let environment = ["RVF_LOCK_ETCD": cluster.endpoints, "RVF_LOCK_ETCD_TTL": "5"]
            let holder = try ChildProcess(
                [Tools.rvfLock, "exec", file, "--", "sh", "-c", Self.holdUntilGo(in: sandbox.path)],
                environment: environment, newSession: true, outputIn: sandbox.path, name: "holder")
            #expect(await eventually { FileManager.default.fileExists(atPath: sandbox.path + "/holding") }, "\(holder.errorOutput)")
            let leader = try #require(try await cluster.waitForLeader())
            await cluster.stop(leader)
            let killed = ContinuousClock.now
            let newLeader = try await cluster.waitForLeader(timeout: .seconds(15))
            #expect(newLeader != nil && newLeader != leader)
            print("EtcdFaultTests: leader killed during a hold with a 5 s lease: a new leader after \(ContinuousClock.now - killed)")
            // Still held, by the same holder, through and after the election.
            let others = cluster.members.enumerated().filter { $0.offset != leader }.map(\.element.clientURL).joined(separator: ",")
            let busy = try await ChildProcess.run(
                [Tools.rvfLock, "exec", "-n", file, "true"],
                environment: ["RVF_LOCK_ETCD": others], in: sandbox.path)
            #expect(busy.status == 75, "\(busy)")
            // Had the keep-alives stopped at the kill, the holder would count its lease
            // lost 0.9 TTL after the last one answered: hold on past a whole TTL.
            try await Self.letGo(in: sandbox.path, at: killed + .seconds(6))
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0, "\(holder.errorOutput)")
            #expect(holder.output.contains("done"))
        }

        @Test func aFrozenFirstEndpointDoesNotCostTheHolderItsLease() async throws {
            let cluster = try await EtcdCluster()
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            // The endpoint named first is a follower's: freezing the leader would add an
            // election, which on two loaded cores can outlast the 0.9-TTL margin, and then
            // the holder is right to count its lease lost (the quorum test covers that).
            let leader = try #require(try await cluster.waitForLeader())
            let frozen = (leader + 1) % 3
            let endpoints = ([frozen, leader, (leader + 2) % 3]).map { cluster.members[$0].clientURL }.joined(separator: ",")
            let environment = ["RVF_LOCK_ETCD": endpoints, "RVF_LOCK_ETCD_TTL": "3"]
            let holder = try ChildProcess(
                [Tools.rvfLock, "exec", file, "--", "sh", "-c", Self.holdUntilGo(in: sandbox.path)],
                environment: environment, newSession: true, outputIn: sandbox.path, name: "holder")
            #expect(await eventually { FileManager.default.fileExists(atPath: sandbox.path + "/holding") }, "\(holder.errorOutput)")
            // The endpoint every request goes to first stops answering (connections hang):
            // keep-alives must move on to the others in time, every third of the TTL.
            cluster.pause(frozen)
            defer { cluster.resume(frozen) }
            // The lease would count as lost 0.9 TTL (2.7 s) after the last keep-alive
            // answered before the freeze, at most 1 s before it: 5 s covers that and
            // the next keep-alive's window.
            try await Self.letGo(in: sandbox.path, at: .now + .seconds(5))
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0, "\(holder.errorOutput)")
            #expect(holder.output.contains("done"))
        }

        @Test func withTwoOfThreeMembersStoppedAcquisitionsFailClearlyAndTheHolderLearnsOfItsLossWithinTheTTL() async throws {
            let cluster = try await EtcdCluster()
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            let environment = ["RVF_LOCK_ETCD": cluster.endpoints, "RVF_LOCK_ETCD_TTL": "3"]
            let holder = try ChildProcess(
                [Tools.rvfLock, "exec", "--kill-after", "1", file, "--", "sh", "-c", "touch \(sandbox.path)/holding; sleep 60"],
                environment: environment, newSession: true, outputIn: sandbox.path, name: "holder")
            #expect(await eventually { FileManager.default.fileExists(atPath: sandbox.path + "/holding") }, "\(holder.errorOutput)")
            // Frozen, not killed: connections to them hang rather than fail.
            let leader = try #require(try await cluster.waitForLeader())
            let frozen = [leader, (leader + 1) % 3]
            for member in frozen { cluster.pause(member) }
            defer { for member in frozen { cluster.resume(member) } }
            let stopped = ContinuousClock.now

            let contender = try ChildProcess(
                [Tools.rvfLock, "exec", "-w", "4", "data.rvf", "true"],
                environment: environment, outputIn: sandbox.path, name: "contender")
            var contenderTook: Duration?
            var holderLearned: Duration?
            while ContinuousClock.now - stopped < .seconds(20) && (contenderTook == nil || holderLearned == nil) {
                if contenderTook == nil && contender.hasExited() { contenderTook = ContinuousClock.now - stopped }
                if holderLearned == nil && holder.hasExited() { holderLearned = ContinuousClock.now - stopped }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(contender.exitStatusIfExited() == 69, "\(contender.errorOutput)")
            #expect(contender.errorOutput.contains("nothing is held"), "\(contender.errorOutput)")
            // The -w 4 wait, plus the start of rvf-lock and its helper (debug builds, a loaded machine).
            #expect(try #require(contenderTook) < .seconds(4 + 2), "the -w 4 wait ends in time")
            // The command is stopped (SIGTERM ends `sleep`) once the lease counts as lost:
            // at most 0.9 TTL after the last answered keep-alive, sent before the freeze.
            #expect(holder.exitStatusIfExited() == 70, "\(holder.errorOutput)")
            #expect(try #require(holderLearned) < .seconds(3), "within the TTL")
            #expect(holder.errorOutput.contains("keep-alive"), "\(holder.errorOutput)")
            print(
                "EtcdFaultTests: 2 of 3 members frozen: the contender failed after \(contenderTook!), "
                    + "the holder's command was stopped after \(holderLearned!) (TTL 3 s)")
        }
    }
}
