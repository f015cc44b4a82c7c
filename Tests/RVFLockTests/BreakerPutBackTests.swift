#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

extension CrossProcessTests {
    /// What a breaker does with a file that is not the one it judged (issue 14, item 1).
    ///
    /// Another program (the reference takes no kernel lock) can replace a stale
    /// lock file in the moment between a breaker's checks and its move of the file
    /// aside. The breaker never unlinks such a file: it puts it back, and where a
    /// newer lock took the path meanwhile, it keeps the file aside and says so.
    @Suite struct BreakerPutBackTests {
        @Test func aFileReplacedTwiceIsKeptAsideAndTheBreakerSaysSo() async throws {
            let sandbox = LockSandbox()
            try sandbox.plantStaleReferenceLock()
            let resumeRemoval = sandbox.directory.file("resume-removal")
            let resumePutBack = sandbox.directory.file("resume-put-back")

            let breaker = try CrossProcessTests.probe(
                "break", sandbox.dataFile, ["pause=\(resumeRemoval)", "pause-put-back=\(resumePutBack)"], in: sandbox)
            _ = try #require(await breaker.waitForLine(startingWith: "pausing"), "breaker: \(breaker.output) \(breaker.errorOutput)")
            // Another program deletes the stale file and writes its own, as the reference does.
            #expect(unlink(sandbox.lockFile) == 0)
            let replacement = LockRecord(
                pid: UInt32(getpid()), hostname: Host.name, timestampNanoseconds: LockFiles.nanoseconds(secondsAgo: 0),
                writerID: LockFiles.randomWriterID(), checksum: .crc32)
            sandbox.plant(replacement)
            LockFiles.write([], to: resumeRemoval)

            // The breaker moved the replacement aside and is about to put it back; a third writer takes the path first.
            _ = try #require(
                await breaker.waitForLine(startingWith: "pausing-put-back"), "breaker: \(breaker.output) \(breaker.errorOutput)")
            #expect(!sandbox.lockExists)
            let third = LockRecord(
                pid: UInt32(getpid()), hostname: Host.name, timestampNanoseconds: LockFiles.nanoseconds(secondsAgo: 0),
                writerID: LockFiles.randomWriterID(), checksum: .crc32)
            sandbox.plant(third)
            LockFiles.write([], to: resumePutBack)

            let code = await breaker.waitForExit(timeout: .seconds(30))
            #expect(code == 3, "breaker: \(breaker.output) \(breaker.errorOutput)")
            let refusal = try #require(breaker.outputLines.last)
            #expect(refusal.hasPrefix("refused busy"), "breaker: \(breaker.output)")
            #expect(refusal.contains("pid \(getpid()) on \(Host.name) replaced the stale lock"), "\(refusal)")
            // The third writer's lock is in place; the replacement is kept, intact, under the name the message gives.
            #expect(sandbox.lockRecord == third)
            let displaced = sandbox.directory.entries.filter { $0.hasSuffix(".displaced") }
            #expect(displaced.count == 1, "\(sandbox.directory.entries)")
            if let name = displaced.first {
                #expect(LockFiles.record(at: sandbox.directory.file(name)) == replacement)
                #expect(refusal.contains(sandbox.directory.file(name)), "\(refusal)")
            }
        }
    }
}
