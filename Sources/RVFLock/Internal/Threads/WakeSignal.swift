#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A descriptor that becomes readable when signalled, so that a thread blocked
/// in `poll(2)` can be woken: once and for good (`fire`), or again and again by
/// file events (`signal`, then `reset`).
final class WakeSignal: Sendable {
    let readable: CInt
    private let writable: CInt
    private let fired = Atomic<Bool>(false)

    init() throws(SystemCallError) {
        (readable, writable) = try Syscalls.pipe()
    }

    deinit {
        Syscalls.close(readable)
        Syscalls.close(writable)
    }

    var isFired: Bool { fired.load(ordering: .acquiring) }

    func fire() {
        guard !fired.exchange(true, ordering: .acquiringAndReleasing) else { return }
        signal()
    }

    /// Makes the descriptor readable; a full pipe is already readable, so a failed write loses nothing.
    func signal() {
        var byte: UInt8 = 1
        _ = write(writable, &byte, 1)
    }

    /// Empties the pipe after a wake-up.
    func reset() {
        Syscalls.drain(readable)
    }
}
