import Synchronization

/// Remembers, on the monotonic clock, since when this process has seen a lock
/// file unchanged.
///
/// Ages taken from wall-clock timestamps break when a clock is stepped: a dead
/// lock whose timestamp lies in the future would look young for as long as the
/// step. A waiter that has watched the very same record (same file, same
/// timestamp, same writer) for longer than a threshold knows it is at least that
/// old whatever the clocks say, since a live RVFLock holder rewrites its
/// timestamp at every heartbeat.
final class UnchangedSince: Sendable {
    static let shared = UnchangedSince()

    struct Key: Hashable, Sendable {
        let file: FileIdentity
        let contentStamp: UInt64
        let writer: WriterID?
    }

    private static let capacity = 256
    private let firstSeen = Mutex<[Key: ContinuousClock.Instant]>([:])

    /// How long `key` has been seen unchanged, counting from its first sighting.
    func duration(of key: Key) -> Duration {
        let now = ContinuousClock.now
        let first = firstSeen.withLock { table in
            if let first = table[key] { return first }
            if table.count >= Self.capacity, let oldest = table.min(by: { $0.value < $1.value })?.key {
                table[oldest] = nil
            }
            table[key] = now
            return now
        }
        return now - first
    }
}
