import RVFLock
import Testing

/// A handle kept in a stored property of a class or an actor, released through the
/// optional itself (issue 15, item 4): `handle?.release()` cannot consume it there.
@Suite struct HandleInPropertyTests {
    let sandbox = LockSandbox()

    final class Ingest {
        let lock: WriterLock
        private var handle: LockHandle?
        init(lock: WriterLock) { self.lock = lock }

        func start() throws(LockError) { handle = try lock.tryAcquire() }
        var isHeld: Bool { handle?.isHeld ?? false }
        func stop() throws(LockError) { try handle.release() }
    }

    actor Compactor {
        let lock: WriterLock
        private var handle: LockHandle?
        init(lock: WriterLock) { self.lock = lock }

        func start() async throws(LockError) { handle = try await lock.acquire(timeout: .seconds(10)) }
        func stop() throws(LockError) { try handle.release() }
    }

    @Test func aClassReleasesItsHandleThroughTheOptional() throws {
        let ingest = Ingest(lock: sandbox.lock())
        try ingest.start()
        #expect(ingest.isHeld)
        #expect(sandbox.lockExists)
        try ingest.stop()
        #expect(!ingest.isHeld)
        #expect(!sandbox.lockExists)
        // Nothing left to release: a second stop does nothing.
        try ingest.stop()
    }

    @Test func anActorReleasesItsHandleThroughTheOptional() async throws {
        let compactor = Compactor(lock: sandbox.lock())
        try await compactor.start()
        #expect(sandbox.lockExists)
        try await compactor.stop()
        #expect(!sandbox.lockExists)
    }
}
