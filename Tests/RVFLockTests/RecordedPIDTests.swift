#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import RVFLockTestSupport
import Testing

/// `LockScope.writeRecord(naming:)`, for `rvf-lock exec`'s keeper: the record names
/// another process of the holder's from then on, heartbeat after heartbeat.
@Suite struct RecordedPIDTests {
    let sandbox = LockSandbox()

    @Test func theRecordNamesTheGivenPidAtOnceAndThroughEveryHeartbeat() async throws {
        let handle = try sandbox.lock { $0.heartbeatInterval = .milliseconds(20) }.tryAcquire()
        let before = try #require(sandbox.lockRecord)
        let other = getppid()
        try handle.scope.writeRecord(naming: other)
        let rewritten = try #require(sandbox.lockRecord)
        #expect(rewritten.pid == UInt32(other))
        #expect(rewritten.writerID == before.writerID)
        #expect(rewritten.checksum == .crc32c)
        #expect(rewritten.timestampNanoseconds >= before.timestampNanoseconds)
        #expect(handle.scope.record.pid == UInt32(other))

        // Several heartbeats later (a newer timestamp), still the given pid.
        var pids: Set<UInt32> = []
        let refreshed = await eventually(timeout: .seconds(10)) {
            guard let latest = sandbox.lockRecord else { return false }
            pids.insert(latest.pid)
            return latest.timestampNanoseconds > rewritten.timestampNanoseconds + 60_000_000
        }
        #expect(refreshed, "no heartbeat")
        #expect(pids == [UInt32(other)])
        #expect(handle.scope.isHeld)
        let scope = handle.scope
        try handle.release()
        #expect(!sandbox.lockExists)

        let error = try #require(LockError.caught { () throws(LockError) in try scope.writeRecord(naming: other) })
        #expect(error.code == .lockLost)
    }
}
