// expect: is 'async' but is not marked with 'await'
// In an async function, withLock is the async one even when its body has no
// await: forgetting `await` is an error, not a silent call of the blocking one.
import RVFLock

actor Ledger {
    var entries = 0

    func append(_ lock: WriterLock) async throws {
        try lock.withLock { _ in entries += 1 }
    }
}
