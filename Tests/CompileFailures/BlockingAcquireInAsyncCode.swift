// expect: is unavailable from asynchronous contexts; blocks the thread while it waits
// The blocking acquire, the only candidate when the progress callback is not
// Sendable, must not compile in an async function.
import RVFLock

func appendOnce(_ lock: WriterLock, report: @escaping (WaitProgress) -> Void) async throws {
    let handle = try lock.acquire(onProgress: report)
    try handle.release()
}
