#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// A process started with standard descriptors closed (issue 10, item 1): the
    /// library must never keep a lock file (or anything else) as descriptor 0, 1 or
    /// 2, where the program's own `print` would overwrite the record and the
    /// reference would then delete the "invalid" file and take the lock too.
    @Suite struct DescriptorEdgeTests {
        struct Start: Sendable, CustomTestStringConvertible {
            /// The standard descriptors the holder starts without.
            let closed: Set<CInt>
            /// Whether it takes the lock with a waiting `acquire` (else `tryAcquire`).
            let waits: Bool
            var testDescription: String { "descriptors \(closed.sorted()) closed, \(waits ? "acquire" : "tryAcquire")" }
        }

        /// With 0 and 1 closed and `tryAcquire`, the lock's own file is the second
        /// descriptor the library opens: without the fix it is descriptor 1.
        static let starts = [
            Start(closed: [1], waits: false),
            Start(closed: [0, 1], waits: false),
            Start(closed: [0, 1, 2], waits: true),
        ]

        /// Starts a holder without `start.closed`, checks that what it printed never
        /// reached the lock file, runs `whileHeld`, then lets it release.
        func holdWithClosedDescriptors(
            _ start: Start, whileHeld: (LockSandbox, ChildProcess) async throws -> Void = { _, _ in }
        ) async throws {
            let sandbox = LockSandbox()
            let done = sandbox.directory.file("done")
            var settings = ["report=\(ChildProcess.outputPathPlaceholder)", "stdout-bytes=256", "until=\(done)"]
            if !start.waits { settings.append("nowait=1") }
            let holder = try CrossProcessTests.probe(
                "hold", sandbox.dataFile, settings, in: sandbox,
                closedStandardDescriptors: start.closed)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.output)")
            // The program's 256 bytes went somewhere harmless, after the lock was taken.
            #expect(await holder.waitForLine(startingWith: "wr") == "wrote 256", "holder: \(holder.output)")

            let bytes = try #require(sandbox.lockBytes)
            #expect(
                bytes.count == LockRecord.size,
                "the lock file is \(bytes.count) bytes: \(String(decoding: bytes.prefix(40), as: UTF8.self).debugDescription)")
            let record = try LockRecord(decoding: bytes)
            #expect(record.pid == UInt32(holder.pid))
            #expect(record.checksum == .crc32c)

            for slot in start.closed.sorted() {
                // Filled with /dev/null by the library, never with one of its own files.
                #expect(ProcFS.link(pid: holder.pid, descriptor: slot) == "/dev/null", "descriptor \(slot)")
                #expect(!ProcFS.isOpen(pid: holder.pid, descriptor: slot, on: sandbox.lockFile), "descriptor \(slot) is the lock file")
            }
            #expect(ProcFS.descriptors(of: holder.pid, openOn: sandbox.lockFile).allSatisfy { $0 > 2 })

            try await whileHeld(sandbox, holder)
            #expect(sandbox.lockRecord?.pid == UInt32(holder.pid))

            LockFiles.write([], to: done)
            let code = await holder.waitForExit(timeout: .seconds(30))
            #expect(code == 0, "holder: \(holder.output)")
            #expect(holder.outputLines.last == "released")
            #expect(!sandbox.lockExists)
        }

        @Test(arguments: starts)
        func printingToAClosedStandardOutputNeverReachesTheLockFile(_ start: Start) async throws {
            try await holdWithClosedDescriptors(start)
        }

        /// The reference would delete a lock file it cannot read, and take the lock too.
        @Test(
            .enabled(
                if: ReferenceHarness.isAvailable,
                "needs rustc and the reference: ../shared/seed/locking.rs beside the package, or RVFLOCK_REFERENCE_DIR"),
            arguments: starts)
        func theReferenceFindsTheLockOfSuchAHolderBusy(_ start: Start) async throws {
            try await holdWithClosedDescriptors(start) { sandbox, _ in
                let harness = try await ReferenceHarness.shared.executable()
                let attempt = try await CompletedProcess.run(harness, ["try", sandbox.dataFile], environment: ["HOSTNAME": Host.name])
                #expect(attempt.status == 3, "the reference took a lock held by a live RVFLock process: \(attempt)")
                #expect(attempt.lines == ["busy"])
            }
        }
    }
}
