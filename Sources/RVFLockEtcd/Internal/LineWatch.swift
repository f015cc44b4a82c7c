import FoundationEssentials

/// A waiter's watch of a lock's whole line (the deletions of every key under its
/// prefix), which counts the keys ahead down and, once none is left, goes on as the
/// new holder's watch of its own key: the handoff then costs the new holder no
/// second watch, no second connection, and the cluster no second registration, at
/// the moment the holder's command is being started.
///
/// The watch runs in a task of its own. ``waitEnd()`` says how the wait ended;
/// after ``WaitEnd/first``, ``guardEnd()`` says how the guard of the own key ended.
/// Dropping the watch, or cancelling the task that awaits ``guardEnd()``, stops it.
final class LineWatch: Sendable {
    /// How waiting for the first place ended.
    enum WaitEnd: Sendable {
        /// No key is ahead any more: this writer's key is the first; the watch goes on.
        case first
        /// The keys ahead were more than were counted, or the watch broke: look again.
        case lookAgain
        case ownKeyDeleted
    }

    /// How guarding the own key, after ``WaitEnd/first``, ended.
    enum GuardEnd: Sendable {
        case ownKeyDeleted
        /// The stream ended or broke (a member went away), or history was compacted:
        /// the holder must look at its key and watch it anew.
        case broken(compacted: Bool)
    }

    private let task: Task<Void, Never>
    private let waitEnds: AsyncStream<WaitEnd>
    private let guardEnds: AsyncStream<GuardEnd>

    /// Starts watching every key in `range` from the revision after `revision` (the
    /// look that found `ahead`, the keys ahead of `own`; `allKnown` when the look read
    /// as far as `own`).
    init(
        gateway: EtcdGateway, range: (key: Data, end: Data), after revision: Int64, own: Data, ahead aheadKeys: Set<Data>,
        allKnown: Bool
    ) {
        let (waitEnds, waitEnded) = AsyncStream<WaitEnd>.makeStream()
        let (guardEnds, guardEnded) = AsyncStream<GuardEnd>.makeStream()
        self.waitEnds = waitEnds
        self.guardEnds = guardEnds
        let request = WatchCreateRequest(
            create_request: .init(key: range.key, range_end: range.end, start_revision: EtcdInt64(revision + 1), filters: ["NOPUT"]))
        task = Task {
            defer {
                waitEnded.finish()
                guardEnded.finish()
            }
            // A set of its own now: removing from one shared with the caller's look would copy
            // it at the first deletion, the handoff's.
            var ahead = Set<Data>(minimumCapacity: aheadKeys.count)
            ahead.formUnion(aheadKeys)
            var first = false
            func end(_ waiting: WaitEnd, or guarding: GuardEnd) {
                if first { guardEnded.yield(guarding) } else { waitEnded.yield(waiting) }
            }
            do throws(EtcdLockError) {
                try await gateway.stream("/v3/watch", request) { (text) throws(EtcdLockError) -> Bool in
                    guard let answer = try? JSONDecoder().decode(WatchLine.self, from: text), let result = answer.result else {
                        throw EtcdLockError(.unexpectedResponse, "watch: \(EtcdGateway.excerpt(Array(text)))")
                    }
                    if result.created == true { LineWatch.decodeSampleDeletion() }
                    // Compacted past `revision` or cancelled: look again rather than trust the stream.
                    if result.canceled == true || (result.compact_revision?.value ?? 0) > 0 {
                        end(.lookAgain, or: .broken(compacted: (result.compact_revision?.value ?? 0) > 0))
                        return true
                    }
                    for event in result.events ?? [] where event.type == "DELETE" {
                        guard let deleted = event.kv?.key else { continue }
                        if deleted == own {
                            end(.ownKeyDeleted, or: .ownKeyDeleted)
                            return true
                        }
                        guard !first, ahead.remove(deleted) != nil, ahead.isEmpty else { continue }
                        guard allKnown else {
                            waitEnded.yield(.lookAgain)
                            return true
                        }
                        // The rest of these events, and the ones after, are the holder's to see.
                        first = true
                        waitEnded.yield(.first)
                    }
                    return false
                }
            } catch {
                if Task.isCancelled { return }
                if first {
                    guardEnded.yield(.broken(compacted: false))
                } else {
                    // A member went away mid-watch: pause a moment, then look again.
                    try? await Task.sleep(for: LeaseKeeper.retryPause)
                    waitEnded.yield(.lookAgain)
                }
            }
        }
        // The holder's watch task cancelled (the lease released): the stream goes with it.
        guardEnded.onTermination = { [task] _ in task.cancel() }
    }

    deinit {
        task.cancel()
    }

    /// Stops the watch.
    func cancel() {
        task.cancel()
    }

    /// A deletion's event as the gateway writes it.
    private static let sampleDeletion = Data(
        #"{"result":{"header":{"revision":"2"},"events":[{"type":"DELETE","kv":{"key":"cnZmLWxvY2s=","mod_revision":"2"}}]}}"#.utf8)

    /// Decodes a deletion's event once, while the watch waits: in a process that has
    /// decoded none yet, the first one looks its types' metadata and conformances up
    /// at run time, which a profile of the handoff found to be a quarter of the new
    /// holder's CPU between the event and `held`, on the handoff's path.
    @discardableResult
    static func decodeSampleDeletion() -> WatchLine? {
        try? JSONDecoder().decode(WatchLine.self, from: sampleDeletion)
    }

    /// How the wait ended; nil if the watch was cancelled first (or the awaiting task was).
    func waitEnd() async -> WaitEnd? {
        for await end in waitEnds { return end }
        return nil
    }

    /// How guarding the own key ended; nil if the watch was cancelled first (or the awaiting task was).
    func guardEnd() async -> GuardEnd? {
        for await end in guardEnds { return end }
        return nil
    }
}
