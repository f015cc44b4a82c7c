// expect: is unavailable from asynchronous contexts; blocks the thread while it waits
// The blocking withLock, the only candidate when the progress callback is not
// Sendable (the async one needs a Sendable one), must not compile in an async function.
import RVFLock

func compactAll(_ lock: WriterLock, report: @escaping (WaitProgress) -> Void) async throws {
    try lock.withLock(onProgress: report) { _ in }
}
