import Synchronization

/// Lock files this process released a moment ago while others were queued for
/// them, kept open so that its next acquisition of the same lock queues behind
/// those waiters instead of ahead of them.
///
/// Waiters queue in the kernel on the file whose `flock()` they wait for. The
/// holder's file is replaced at every handoff, so a process that releases and
/// comes straight back would queue on the *new* file, ahead of everyone still
/// queued on its old one: in a loop, the same few processes would take turns
/// while the rest starved. Queueing first on its own old file puts it behind
/// every process that was waiting when it released; they let go of that file
/// one by one as each moves over to the newer lock file, and it follows them.
final class RecentReleases: Sendable {
    static let shared = RecentReleases()

    typealias Key = ProcessQueue.Key

    private struct Entry {
        let key: Key
        let descriptor: CInt
        let expires: UInt64
    }

    /// How long a released file is kept for the next acquisition: a process that
    /// comes back later queues as a newcomer.
    private static let lifetime: UInt64 = 1_000_000_000
    /// An array: a process releases a few contended locks at a time.
    private let entries = Mutex<[Entry]>([])

    /// Whether anything is kept: checked before computing a key, which costs a system call.
    var isEmpty: Bool { entries.withLock { $0.isEmpty } }

    /// Keeps `descriptor` (its kernel lock already let go) for this process's next
    /// acquisition of the lock; this object closes it.
    func keep(_ descriptor: CInt, for key: Key) {
        let now = Syscalls.monotonicNanoseconds()
        let stale: [CInt] = entries.withLock { entries in
            let closing = entries.filter { $0.key == key || $0.expires <= now }.map(\.descriptor)
            entries.removeAll { $0.key == key || $0.expires <= now }
            entries.append(Entry(key: key, descriptor: descriptor, expires: now &+ Self.lifetime))
            return closing
        }
        for descriptor in stale { Syscalls.close(descriptor) }
        // Nobody may come back for it: close it after its lifetime, on the monitor thread
        // (without one, at this process's next release).
        _ = try? MonitorThread.current().after(.nanoseconds(Int64(Self.lifetime) + 1_000_000)) { [weak self] in
            self?.expire()
        }
    }

    /// The kept descriptor of `key`, if any and still fresh; the caller owns it from now on.
    func take(_ key: Key) -> CInt? {
        let now = Syscalls.monotonicNanoseconds()
        let entry: Entry? = entries.withLock { entries in
            guard let index = entries.firstIndex(where: { $0.key == key }) else { return nil }
            return entries.remove(at: index)
        }
        guard let entry else { return nil }
        guard entry.expires > now else {
            Syscalls.close(entry.descriptor)
            return nil
        }
        return entry.descriptor
    }

    private func expire() {
        let now = Syscalls.monotonicNanoseconds()
        let expired: [CInt] = entries.withLock { entries in
            defer { entries.removeAll { $0.expires <= now } }
            return entries.filter { $0.expires <= now }.map(\.descriptor)
        }
        for descriptor in expired { Syscalls.close(descriptor) }
    }
}
