// expect: is unavailable from asynchronous contexts; blocks the thread while it waits
// The blocking waitUntilAvailable, the only candidate when the progress callback
// is not Sendable, must not compile in an async function.
import RVFLock

func waitForWriters(_ lock: WriterLock, report: @escaping (WaitProgress) -> Void) async throws {
    _ = try lock.waitUntilAvailable(onProgress: report)
}
