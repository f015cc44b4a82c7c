import Glibc
import SystemPackage

/// A descriptor that becomes readable when signalled, so that a thread asleep in
/// `poll(2)` can be woken: the one waker of a wait (see
/// ``WaitCancellation/waker()``), signalled by cancellation, file events and this
/// process's line for a lock. The sleeper empties it (``reset()``) and rechecks
/// why it woke.
final class WakeSignal: Sendable {
    let readable: FileDescriptor
    private let writable: FileDescriptor

    init() throws(SystemCallError) {
        (readable, writable) = try Syscalls.pipe()
    }

    deinit {
        Syscalls.close(readable)
        Syscalls.close(writable)
    }

    /// Makes the descriptor readable; a full pipe is already readable, so a failed write loses nothing.
    func signal() {
        var byte: UInt8 = 1
        _ = write(writable.rawValue, &byte, 1)
    }

    /// Empties the pipe after a wake-up.
    func reset() {
        Syscalls.drain(readable)
    }

    /// Sleeps until signalled or `timeout`; returns whether it was signalled, emptied.
    func sleep(timeout: Duration) throws(SystemCallError) -> Bool {
        let woken = try Syscalls.pollReadable([readable], timeoutMilliseconds: timeout.pollMilliseconds)
        if woken { reset() }
        return woken
    }
}
