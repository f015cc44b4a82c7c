#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing
import RVFLockSpawn

extension CrossProcessTests {
    /// On a local file system every process reads the same page cache, so the
    /// lock file needs no sync; `.always` syncs anyway (issue 9, item 1). Counted
    /// with strace on a probe.
    @Suite(.enabled(if: Strace.unavailableReason == nil, "needs a working strace (apt-get install strace)"))
    struct SyncPolicyTests {
        struct Run: Sendable, CustomTestStringConvertible {
            let base: String
            let policy: String
            var testDescription: String { "\(base), sync=\(policy)" }
        }

        static func runs(on base: String) -> [Run] { ["automatic", "always"].map { Run(base: base, policy: $0) } }

        /// The `fsync` and `fdatasync` calls of one probe run, as strace lists them.
        func syncCalls(_ mode: String, _ settings: [String], in sandbox: LockSandbox) async throws -> (fsync: Int, fdatasync: Int) {
            let trace = sandbox.directory.file("trace-\(mode).txt")
            let strace = try #require(Strace.executable)
            let run = try await CompletedProcess.run(
                strace, ["-f", "-e", "trace=fsync,fdatasync", "-o", trace, TestResources.probe, mode, sandbox.dataFile] + settings)
            #expect(run.status == 0, "\(run)")
            let lines = String(decoding: LockFiles.read(trace) ?? [], as: UTF8.self).split(separator: "\n")
            return (
                lines.filter { $0.contains("fsync(") && !$0.contains("fdatasync(") }.count,
                lines.filter { $0.contains("fdatasync(") }.count
            )
        }

        // One test per file system, so that one this machine lacks shows as a skipped test.
        @Test(.enabled(if: access("/tmp", W_OK) == 0, "needs a writable /tmp"), arguments: runs(on: "/tmp"))
        func lockFilesOnTheTemporaryFileSystemAreSyncedOnlyWhenThePolicySaysSo(_ run: Run) async throws {
            try await lockFilesAreSyncedOnlyWhenThePolicySaysSo(run)
        }

        @Test(.enabled(if: access("/dev/shm", W_OK) == 0, "needs a writable /dev/shm (tmpfs)"), arguments: runs(on: "/dev/shm"))
        func lockFilesOnTmpfsAreSyncedOnlyWhenThePolicySaysSo(_ run: Run) async throws {
            try await lockFilesAreSyncedOnlyWhenThePolicySaysSo(run)
        }

        func lockFilesAreSyncedOnlyWhenThePolicySaysSo(_ run: Run) async throws {
            let sandbox = LockSandbox(in: run.base)
            // An acquisition and release.
            let cycle = try await syncCalls("try", ["sync=\(run.policy)"], in: sandbox)
            // A hold long enough for several heartbeats.
            let holding = try await syncCalls("hold", ["sync=\(run.policy)", "heartbeat-ms=20", "hold-ms=400"], in: sandbox)
            print(
                "sync on \(run.base), \(run.policy): acquire+release \(cycle.fsync) fsync \(cycle.fdatasync) fdatasync; "
                    + "400 ms hold \(holding.fsync) fsync \(holding.fdatasync) fdatasync")
            switch run.policy {
            case "automatic":
                #expect(cycle.fsync == 0 && cycle.fdatasync == 0, "a local file system needs no sync: \(cycle)")
                #expect(holding.fsync == 0 && holding.fdatasync == 0, "a local file system needs no sync: \(holding)")
            default:
                #expect(cycle.fsync >= 1, "sync=always made no fsync on creation")
                #expect(holding.fsync >= 1, "sync=always made no fsync on creation")
                #expect(holding.fdatasync >= 1, "sync=always made no sync in the heartbeat")
            }
            #expect(!sandbox.lockExists)
        }
    }
}

/// strace, where it is installed and allowed to trace.
enum Strace {
    static let executable = Spawn.executable(named: "strace")

    /// Nil when strace works here; otherwise why not (also printed).
    static let unavailableReason: String? = {
        guard let executable else {
            print("SyncPolicyTests skipped: strace not found on PATH (apt-get install strace)")
            return "strace not found"
        }
        let scratch = TemporaryDirectory("rvflock-strace-check")
        let check = try? ChildProcess.runBlocking(executable, ["-f", "-o", "/dev/null", "/bin/true"], outputIn: scratch.path)
        guard check?.code == 0 else {
            print("SyncPolicyTests skipped: strace cannot trace here (exit \(String(describing: check?.code)); ptrace not permitted?)")
            return "strace cannot trace"
        }
        return nil
    }()
}
