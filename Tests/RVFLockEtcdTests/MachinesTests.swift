#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import Testing

extension EtcdTests {
    /// Writers on separate "machines" (network and UTS namespaces), each looping
    /// `rvf-lock exec --etcd` on one data file; their commands log when they
    /// start and end writing, and no two may ever overlap.
    @Suite(.enabled(if: NetworkMachines.unavailableReason == nil, Comment(rawValue: NetworkMachines.unavailableReason ?? "")))
    struct MachinesTests {
        /// Seconds each writer loops: 3 in `swift test`, 30 under `RVFLOCK_STRESS=1`;
        /// `Scripts/etcd-machines.sh` (which CI runs) sets RVFLOCK_ETCD_MACHINES_SECONDS.
        static let seconds =
            ProcessInfo.processInfo.environment["RVFLOCK_ETCD_MACHINES_SECONDS"].flatMap(Int.init)
            ?? Stress.count(short: 3, full: 30)

        @Test func writersOnSeparateMachinesNeverOverlap() async throws {
            let sandbox = Sandbox()
            let machines = try await NetworkMachines(count: 3, in: sandbox)
            let cluster = try await EtcdCluster(
                host: NetworkMachines.clusterAddress, launcher: machines.clusterLauncher,
                basePort: 2379)
            let file = sandbox.path + "/data.rvf"
            let log = sandbox.path + "/log"
            // Each holder appends "start", works a little, checks the fence, appends "end".
            let command = """
                echo "start $(hostname) $$ $RVF_LOCK_FENCE" >> \(log)
                sleep 0.02
                \(Tools.rvfLockEtcd) fence \(file) -- true || echo "fenced-out $(hostname) $$" >> \(log)
                echo "end $(hostname) $$ $RVF_LOCK_FENCE" >> \(log)
                """
            let loop = """
                end=$(( $(date +%s) + \(Self.seconds) ))
                while [ $(date +%s) -lt $end ]; do
                  \(Tools.rvfLock) exec -w 30 \(file) -- sh -c '\(command)' || echo "exit $? $(hostname)" >> \(log)
                done
                """
            var writers: [ChildProcess] = []
            for index in machines.machineNamespaces.indices {
                let hostname = "machine-\(index)"
                writers.append(
                    try ChildProcess(
                        machines.launcher(machine: index, hostname: hostname) + ["sh", "-c", loop],
                        environment: ["RVF_LOCK_ETCD": cluster.endpoints, "RVF_LOCK_ETCD_TTL": "3"],
                        outputIn: sandbox.path, name: hostname))
            }
            for writer in writers {
                #expect(await writer.waitForExit(timeout: .seconds(Self.seconds + 60)) == 0, "\(writer.errorOutput)")
            }
            let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            var holder: Substring?
            var overlaps = 0
            var holds: [String: Int] = [:]
            var lastToken: Int64 = 0
            var tokensIncreasing = true
            for line in lines {
                let words = line.split(separator: " ")
                switch words.first {
                case "start":
                    if holder != nil { overlaps += 1 }
                    holder = words.dropFirst().prefix(2).joined(separator: " ")[...]
                    holds[String(words[1]), default: 0] += 1
                    let token = Int64(words[3]) ?? 0
                    if token <= lastToken { tokensIncreasing = false }
                    lastToken = token
                case "end":
                    if holder != words.dropFirst().prefix(2).joined(separator: " ")[...] { overlaps += 1 }
                    holder = nil
                default:
                    Issue.record("unexpected line in the log: \(line)")
                }
            }
            print("MachinesTests: \(holds.values.reduce(0, +)) holds in \(Self.seconds) s by \(holds) with \(overlaps) overlaps")
            #expect(overlaps == 0)
            #expect(tokensIncreasing, "each holder's fencing token is larger than the one before")
            #expect(holds.count == machines.machineNamespaces.count, "every machine held the lock: \(holds)")
        }
    }
}
