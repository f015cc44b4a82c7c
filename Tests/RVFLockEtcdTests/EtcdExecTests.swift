#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockEtcd
import RVFLockTestSupport
import Testing

extension EtcdTests {
    /// `rvf-lock exec --etcd` and `status --etcd`, with real processes.
    @Suite struct ExecTests {
        func environment(_ cluster: EtcdCluster, ttl: Int = 4) -> [String: String] {
            ["RVF_LOCK_ETCD": cluster.endpoints, "RVF_LOCK_ETCD_TTL": String(ttl)]
        }

        /// `rvf-lock exec FILE` holding both locks for 30 s, once its command runs.
        func startHolder(of file: String, _ cluster: EtcdCluster, _ sandbox: Sandbox) async throws -> ChildProcess {
            let holder = try ChildProcess(
                [Tools.rvfLock, "exec", file, "--", "sh", "-c", "touch '\(sandbox.path)/holding'; sleep 30"],
                environment: environment(cluster), newSession: true, outputIn: sandbox.path, name: "holder")
            #expect(await eventually { FileManager.default.fileExists(atPath: sandbox.path + "/holding") }, "\(holder.errorOutput)")
            return holder
        }

        @Test func execRunsTheCommandWithItsFencingTokenAndReleasesBothLocks() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            let script = "echo \"$RVF_LOCK_FENCE $RVF_LOCK_ETCD_KEY\"; test -e '\(file).lock'"
            let first = try await ChildProcess.run(
                [Tools.rvfLock, "exec", "--etcd", cluster.endpoints, file, "--", "sh", "-c", script], in: sandbox.path)
            #expect(first.status == 0, "\(first)")
            let words = first.output.split(separator: " ")
            let token = try #require(words.first.flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }, "\(first)")
            #expect(words.last?.hasPrefix("rvf-lock/\(file)/") == true, "\(first)")
            // The environment variable names the cluster too.
            let second = try await ChildProcess.run(
                [Tools.rvfLock, "exec", file, "--", "sh", "-c", script], environment: environment(cluster), in: sandbox.path)
            #expect(second.status == 0, "\(second)")
            let secondToken = try #require(second.output.split(separator: " ").first.flatMap { Int64($0) }, "\(second)")
            #expect(secondToken > token)
            #expect(!FileManager.default.fileExists(atPath: file + ".lock"))
            let status = try await ChildProcess.run([Tools.rvfLock, "status", "--etcd", cluster.endpoints, file], in: sandbox.path)
            #expect(status.status == 0, "\(status)")
            #expect(status.output.contains("etcd lease rvf-lock/\(file)/: free"), "\(status)")
        }

        /// The lease's helper ends (a child of rvf-lock's) before COMMAND starts, so its
        /// SIGCHLD is read first: a quick COMMAND has run and its keeper exited by then,
        /// with the keeper's report behind it. strace delays each read of the channel by
        /// 300 ms to make that so every time. It once ended "the keeper process ended
        /// before it could start" with exit 70, after COMMAND had run.
        @Test(.enabled(if: Tools.path(of: "strace") != nil, "needs strace (apt-get install strace)"))
        func aQuickCommandIsReportedStartedWhenItsKeeperEndedFirst() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            let strace = try #require(Tools.path(of: "strace"))
            let run = try await ChildProcess.run(
                [
                    strace, "-o", "/dev/null", "-e", "trace=recvmsg", "-e", "inject=recvmsg:delay_enter=300000",
                    Tools.rvfLock, "exec", "--etcd", cluster.endpoints, file, "--", "sh", "-c", "echo ran",
                ],
                in: sandbox.path)
            #expect(run.status == 0, "\(run)")
            #expect(run.output == "ran\n", "\(run)")
        }

        @Test func statusShowsTheLeaseHolderItsMachineAndItsFencingToken() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            let holder = try ChildProcess(
                [Tools.rvfLock, "exec", file, "--", "sh", "-c", "echo $RVF_LOCK_FENCE > '\(sandbox.path)/token'; sleep 30"],
                environment: environment(cluster), newSession: true, outputIn: sandbox.path, name: "holder")
            let token = try #require(await eventuallyLine(in: sandbox.path + "/token"), "\(holder.errorOutput)")
            let status = try await ChildProcess.run([Tools.rvfLock, "status", file], environment: environment(cluster), in: sandbox.path)
            #expect(status.status == 1, "\(status)")
            let lines = status.output.split(separator: "\n")
            #expect(lines.count == 2, "\(status)")
            #expect(lines.last?.contains("held by pid") == true, "\(status)")
            #expect(
                lines.last?.contains("on \(ProcessInfo.processInfo.hostName)") == true
                    || lines.last?.contains(" on ") == true, "\(status)")
            #expect(lines.last?.contains("token \(token)") == true, "\(status)")
            let json = try await ChildProcess.run(
                [Tools.rvfLock, "status", "--json", file], environment: environment(cluster),
                in: sandbox.path)
            let objects = json.output.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(objects.count == 2, "\(json)")
            #expect((objects.last?["etcd_fencing_token"] as? NSNumber)?.stringValue == token, "\(json)")
            #expect(objects.last?["etcd_state"] as? String == "held", "\(json)")
            #expect(objects.last?["etcd_holder_hostname"] as? String != nil, "\(json)")
            holder.send(SIGTERM)
            #expect(await holder.waitForExit(timeout: .seconds(20)) != nil)
        }

        @Test func execWithoutWaitingWhileTheLeaseIsHeldExits75NamingTheHolder() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            let holder = try await startHolder(of: file, cluster, sandbox)
            let busy = try await ChildProcess.run(
                [Tools.rvfLock, "exec", "-n", file, "true"],
                environment: environment(cluster), in: sandbox.path)
            #expect(busy.status == 75, "\(busy)")
            #expect(busy.error.contains("locked on the etcd cluster by pid"), "\(busy)")
            let custom = try await ChildProcess.run(
                [Tools.rvfLock, "exec", "-w", "0.5", "-E", "9", "-q", file, "true"],
                environment: environment(cluster), in: sandbox.path)
            #expect(custom.status == 9, "\(custom)")
            #expect(custom.error.isEmpty, "\(custom)")
            holder.send(SIGTERM)
            #expect(await holder.waitForExit(timeout: .seconds(20)) != nil)
        }

        @Test func aRevokedLeaseStopsTheCommandAndExecExits70() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            let holder = try ChildProcess(
                [
                    Tools.rvfLock, "exec", "--kill-after", "1", file, "--", "sh", "-c",
                    "echo $RVF_LOCK_ETCD_KEY > '\(sandbox.path)/key'; sleep 60",
                ],
                environment: environment(cluster), newSession: true, outputIn: sandbox.path, name: "holder")
            let key = try #require(await eventuallyLine(in: sandbox.path + "/key"), "\(holder.errorOutput)")
            let lease = String(key.split(separator: "/").last ?? "")
            let started = ContinuousClock.now
            let revoke = try await cluster.etcdctl(["lease", "revoke", lease])
            #expect(revoke.status == 0, "\(revoke)")
            #expect(await holder.waitForExit(timeout: .seconds(10)) == 70, "\(holder.errorOutput)")
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(holder.errorOutput.contains("etcd lease"), "\(holder.errorOutput)")
            // The lock file was never touched: the message must not send the user looking for who removed it.
            #expect(holder.errorOutput.contains("the etcd lease was lost (see above): sending SIGTERM"), "\(holder.errorOutput)")
            #expect(!holder.errorOutput.contains("removed or replaced"), "\(holder.errorOutput)")
            #expect(!FileManager.default.fileExists(atPath: file + ".lock"))
        }

        @Test func aWaiterKilledWithSIGKILLLeavesTheLineAndRunsNothing() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            let holder = try await startHolder(of: file, cluster, sandbox)
            let waiter = try ChildProcess(
                [Tools.rvfLock, "exec", file, "--", "touch", sandbox.path + "/waiter-ran"],
                environment: environment(cluster), newSession: true, outputIn: sandbox.path, name: "waiter")
            let line = EtcdWriterLock(dataFile: file, etcd: try EtcdOptions(endpointList: cluster.endpoints))
            #expect(await eventually { (try? await line.line().waiting.count) == 1 }, "\(waiter.errorOutput)")
            // Killed while its helper waits for the lease, after its keeper was forked: the helper
            // must see the socket's end (neither the keeper nor anything else keeps it open), and
            // give up its place; the keeper must start nothing.
            waiter.send(SIGKILL)
            #expect(await eventually(timeout: .seconds(10)) { (try? await line.line().waiting.count) == 0 })
            holder.send(SIGTERM)
            #expect(await holder.waitForExit(timeout: .seconds(20)) != nil)
            #expect(await eventually(timeout: .seconds(10)) { (try? await line.line().holder) == nil })
            #expect(!FileManager.default.fileExists(atPath: sandbox.path + "/waiter-ran"))
        }

        /// The keeper is forked while the helper waits for the lease. A fork that fails
        /// (strace fails rvf-lock's second `clone`: the first starts the helper) ends
        /// the wait at once, with the reason, and the helper leaves the line.
        @Test(.enabled(if: Tools.path(of: "strace") != nil, "needs strace (apt-get install strace)"))
        func aKeeperThatCannotBeForkedEndsTheWaitForTheLeaseAtOnce() async throws {
            let cluster = try await EtcdTests.shared.value
            let sandbox = Sandbox()
            let file = sandbox.path + "/data.rvf"
            let strace = try #require(Tools.path(of: "strace"))
            let holder = try await startHolder(of: file, cluster, sandbox)
            let started = ContinuousClock.now
            let refused = try await ChildProcess.run(
                [
                    strace, "-o", "/dev/null", "-e", "trace=clone", "-e", "inject=clone:error=EAGAIN:when=2",
                    Tools.rvfLock, "exec", file, "--", "touch", sandbox.path + "/ran",
                ],
                environment: environment(cluster), in: sandbox.path)
            #expect(refused.status == 70, "\(refused)")
            #expect(refused.error.contains("(fork: Resource temporarily unavailable)"), "\(refused)")
            // Not after the holder's 30 s.
            #expect(ContinuousClock.now - started < .seconds(10))
            let line = EtcdWriterLock(dataFile: file, etcd: try EtcdOptions(endpointList: cluster.endpoints))
            #expect(await eventually(timeout: .seconds(10)) { (try? await line.line().waiting.count) == 0 })
            #expect(!FileManager.default.fileExists(atPath: sandbox.path + "/ran"))
            holder.send(SIGTERM)
            #expect(await holder.waitForExit(timeout: .seconds(20)) != nil)
        }

        @Test func withoutTheHelperExecEtcdIsAClearError() async throws {
            let sandbox = Sandbox()
            // rvf-lock alone in a folder, and a PATH without rvf-lock-etcd. A hard link, not a
            // copy: a copy's descriptor open for writing, inherited by a process another test
            // starts meanwhile, would make executing it fail with ETXTBSY.
            try FileManager.default.linkItem(atPath: Tools.rvfLock, toPath: sandbox.path + "/rvf-lock")
            let result = try await ChildProcess.run(
                [sandbox.path + "/rvf-lock", "exec", "--etcd", "http://127.0.0.1:1", sandbox.path + "/data.rvf", "true"],
                environment: ["PATH": "/usr/bin:/bin"], in: sandbox.path)
            #expect(result.status == 69, "\(result)")
            #expect(result.error.contains("rvf-lock-etcd"), "\(result)")
        }
    }
}
