#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import RVFLock
import Synchronization
import RVFLockTestSupport
import Testing

extension ManyProcessTests {
    /// A holder rewrites its record in place at every heartbeat; a judge's read
    /// racing that write can see half of each. `status` must read again rather
    /// than call a live lock invalid (issue 10, item 7).
    ///
    /// The holder beats every millisecond and, besides, rewrites its record in place
    /// (one `pwrite` of a whole valid record, as a heartbeat does) every ~50 us,
    /// while four threads of this process call `status()`, 10,000 times in all per file system
    /// (`RVFLOCK_STRESS=1`; 1,000 by default, see ``Stress``).
    @Suite struct TornReadTests {
        /// ext4 (/tmp here) and tmpfs (/dev/shm) tear differently.
        static let fileSystems: [String] = ["/tmp", "/dev/shm"].filter { access($0, W_OK) == 0 }

        /// What the looking threads saw.
        final class Looks: Sendable {
            private struct Counts {
                var held = 0
                var invalid: [String] = []
                var other: [String] = []
                var timestamps: Set<UInt64> = []
            }
            private let counts = Mutex(Counts())

            func record(_ status: LockStatus) {
                counts.withLock { counts in
                    switch status {
                    case .held(let holder):
                        counts.held += 1
                        counts.timestamps.insert(holder.record.timestampNanoseconds)
                    case .invalid:
                        counts.invalid.append("\(status)")
                    default:
                        counts.other.append("\(status)")
                    }
                }
            }

            func recordError(_ error: LockError) { counts.withLock { $0.other.append("\(error)") } }

            var held: Int { counts.withLock { $0.held } }
            var invalid: [String] { counts.withLock { $0.invalid } }
            var other: [String] { counts.withLock { $0.other } }
            var distinctTimestamps: Int { counts.withLock { $0.timestamps.count } }
        }

        @Test(arguments: fileSystems)
        func statusNeverCallsALiveLockInvalidWhileItsHolderRewritesItInPlace(base: String) async throws {
            let sandbox = LockSandbox(in: base)
            let done = sandbox.directory.file("done")
            let holder = try CrossProcessTests.probe(
                "hold", sandbox.dataFile, ["heartbeat-ms=1", "rewrite-us=50", "until=\(done)"], in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            let lock = sandbox.lock()

            let threads = 4
            let looksPerThread = Stress.count(short: 250, full: 2_500)
            let looks = Looks()
            let group = DispatchGroup()
            for thread in 0..<threads {
                // A queue of its own each: threads that mostly wait, outside the concurrency pool.
                DispatchQueue(label: "torn-reads-\(thread)").async(group: group) {
                    for _ in 0..<looksPerThread {
                        do throws(LockError) { looks.record(try lock.status()) } catch { looks.recordError(error) }
                    }
                }
            }
            await withCheckedContinuation { continuation in group.notify(queue: .global()) { continuation.resume() } }

            let total = threads * looksPerThread
            print(
                "torn reads on \(base): \(total) looks, \(looks.held) held, \(looks.invalid.count) invalid, "
                    + "\(looks.distinctTimestamps) distinct records seen")
            // The holder really rewrote its record while the looks ran: they could have torn.
            #expect(looks.distinctTimestamps > total / 100, "only \(looks.distinctTimestamps) distinct records seen")
            #expect(
                looks.invalid.isEmpty, "\(looks.invalid.count) of \(total) looks called the live lock invalid: \(looks.invalid.prefix(2))")
            #expect(looks.other.isEmpty, "a live holder's lock was seen as: \(looks.other.prefix(2))")

            LockFiles.write([], to: done)
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(holder.outputLines.last == "released")
        }
    }
}
