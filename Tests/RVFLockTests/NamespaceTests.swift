#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import Testing
import RVFLockSpawn

extension CrossProcessTests {
    /// Contenders that see another PID space or another hostname than the holder,
    /// as containers sharing a volume do.
    @Suite struct NamespaceTests {
        static let unshare = Spawn.executable(named: "unshare", extraDirectories: ["/usr/bin", "/bin"])

        /// Whether this process may create PID, mount and UTS namespaces; prints why not.
        static let namespacesAvailable: Bool = {
            guard Host.isRoot else {
                print("NamespaceTests skipped: creating namespaces needs root (euid \(geteuid()))")
                return false
            }
            guard let unshare else {
                print("NamespaceTests skipped: no unshare executable on PATH")
                return false
            }
            let scratch = TemporaryDirectory()
            for arguments in [["--pid", "--fork", "--mount-proc", "/bin/true"], ["--uts", "/bin/true"]] {
                let result = try? ChildProcess.runBlocking(unshare, arguments, outputIn: scratch.path)
                guard result?.code == 0 else {
                    print(
                        "NamespaceTests skipped: `unshare \(arguments.joined(separator: " "))` failed "
                            + "(exit \(String(describing: result?.code)))")
                    return false
                }
            }
            return true
        }()

        @Test(.enabled(if: namespacesAvailable, "needs root and a working `unshare` (PID, mount and UTS namespaces)"))
        func contendersInOtherPIDAndUTSNamespacesNeverTakeALiveLock() async throws {
            let unshare = try #require(Self.unshare)
            let sandbox = LockSandbox()
            let probe = TestResources.probe
            let holder = try CrossProcessTests.probe(
                "hold", sandbox.dataFile, ["stale-ms=500", "heartbeat-ms=100", "stdin=1"],
                in: sandbox, keepsStandardInputOpen: true)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")

            let clock = ContinuousClock()
            // Longer than both thresholds, so that age alone would have made the lock stale.
            let end = clock.now + .seconds(3)
            var pidNamespaceAttempts = 0
            var utsNamespaceAttempts = 0
            while clock.now < end {
                let inPIDNamespace = try await CompletedProcess.run(
                    unshare, ["--pid", "--fork", "--mount-proc", probe, "try", sandbox.dataFile, "stale-ms=500"])
                #expect(inPIDNamespace.status == 3, "PID namespace contender: \(inPIDNamespace)")
                #expect(inPIDNamespace.lines.first?.hasPrefix("busy \(holder.pid) ") == true, "\(inPIDNamespace)")
                pidNamespaceAttempts += 1

                let script = "hostname other-host && exec '\(probe)' try '\(sandbox.dataFile)' stale-ms=500 other-ms=1000"
                let inUTSNamespace = try await CompletedProcess.run(unshare, ["--uts", "sh", "-c", script])
                #expect(inUTSNamespace.status == 3, "UTS namespace contender: \(inUTSNamespace)")
                #expect(inUTSNamespace.lines.first?.hasPrefix("busy \(holder.pid) ") == true, "\(inUTSNamespace)")
                utsNamespaceAttempts += 1
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(holder.exitStatusIfExited() == nil, "holder ended early: \(holder.output)")
            holder.closeStandardInput()
            let code = await holder.waitForExit(timeout: .seconds(20))
            #expect(code == 0)
            #expect(holder.outputLines.last == "released", "holder: \(holder.output)")
            print("namespaces: \(pidNamespaceAttempts) PID-namespace and \(utsNamespaceAttempts) UTS-namespace contenders, all busy")
        }
    }
}
