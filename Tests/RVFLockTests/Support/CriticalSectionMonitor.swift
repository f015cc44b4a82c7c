import Synchronization

/// Counts entries into a critical section and notices when two are inside at once.
///
/// The counter is read, the task yields, and the counter is written back: a
/// read-modify-write that loses updates whenever two holders overlap, so that
/// an overlap the entry flag missed still shows in the final count.
final class CriticalSectionMonitor: Sendable {
    private let inside = Atomic<Int>(0)
    private let overlapCount = Atomic<Int>(0)
    private let counter = Atomic<Int>(0)

    func enter() {
        if inside.add(1, ordering: .sequentiallyConsistent).oldValue != 0 {
            overlapCount.add(1, ordering: .sequentiallyConsistent)
        }
    }

    func incrementSlowly() async {
        let value = counter.load(ordering: .sequentiallyConsistent)
        await Task.yield()
        counter.store(value + 1, ordering: .sequentiallyConsistent)
    }

    func leave() {
        inside.subtract(1, ordering: .sequentiallyConsistent)
    }

    var overlaps: Int { overlapCount.load(ordering: .sequentiallyConsistent) }
    var count: Int { counter.load(ordering: .sequentiallyConsistent) }
}
