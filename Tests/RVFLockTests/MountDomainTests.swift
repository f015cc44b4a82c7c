#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing
import RVFLockSpawn

extension CrossProcessTests {
    /// Two mounts of the same files whose `flock()` domains differ (issue 14, item 13).
    ///
    /// bindfs (FUSE) shows a directory's files under a second path without passing
    /// `flock()` through: a holder's kernel lock, taken through one mount, is free
    /// when seen through the other. The "stale at once when its kernel lock is
    /// free" rule is bound to the mount the record was written on; elsewhere the
    /// record's PID decides, as it names its writer exactly.
    @Suite(.enabled(if: BindMount.unavailableReason == nil, "needs root, /dev/fuse and bindfs (apt-get install bindfs)"))
    struct MountDomainTests {
        @Test func aHolderSeenThroughAMountWithAnotherLockDomainIsAliveAndKeepsItsLock() async throws {
            let sandbox = LockSandbox()
            let mount = try BindMount(in: sandbox.directory)
            defer { mount.unmount() }
            let heldThrough = mount.source + "/data.rvf"
            let seenThrough = mount.target + "/data.rvf"

            let holder = try CrossProcessTests.probe(
                "hold", heldThrough, ["heartbeat-ms=50", "stdin=1"], in: sandbox, keepsStandardInputOpen: true)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.output) \(holder.errorOutput)")
            let other = WriterLock(dataFile: seenThrough)
            guard case .held(let seen) = try other.status() else {
                Issue.record("expected held through the other mount, got \(try other.status())")
                return
            }
            #expect(seen.liveness == .writerProcessExists)
            #expect(seen.program == "rvflock-probe")
            #expect(LockError.caught { () throws(LockError) in try other.tryAcquire() }?.code == .busy)
            #expect(LockError.caught { () throws(LockError) in try other.breakLock() }?.code == .notStale)

            holder.closeStandardInput()
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(holder.outputLines.last == "released", "the holder lost its lock: \(holder.output)")
        }
    }
}

/// A bindfs mount of one folder at another, unmounted by ``unmount()``.
struct BindMount {
    let source: String
    let target: String

    static let bindfs = Spawn.executable(named: "bindfs")

    static let unavailableReason: String? = {
        guard Host.isRoot else { return "the tests do not run as root" }
        guard access("/dev/fuse", R_OK | W_OK) == 0 else { return "no /dev/fuse" }
        guard bindfs != nil else { return "bindfs is not installed" }
        return nil
    }()

    init(in directory: TemporaryDirectory) throws {
        source = directory.file("source")
        target = directory.file("target")
        #expect(mkdir(source, 0o755) == 0 && mkdir(target, 0o755) == 0)
        let result = try ChildProcess.runBlocking(Self.bindfs!, [source, target], outputIn: directory.path)
        try #require(result.code == 0, "bindfs failed: \(result.output)")
    }

    func unmount() {
        _ = try? ChildProcess.runBlocking("/bin/umount", [target], outputIn: "/tmp")
    }
}
