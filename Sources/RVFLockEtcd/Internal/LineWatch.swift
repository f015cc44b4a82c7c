import FoundationEssentials
import Synchronization

/// A waiter's watch of a lock's whole line (the deletions of every key under its
/// prefix), which counts the keys ahead down and, once none is left, goes on as the
/// new holder's watch of its own key: the handoff then costs the new holder no
/// second watch, no second connection, and the cluster no second registration, at
/// the moment the holder's command is being started.
///
/// The watch asks for no start revision: etcd registers such a watch among its
/// "synced" watchers, which hear of a deletion as it is applied. A watch asked to
/// start at a revision the member has passed already is "unsynced" until etcd's
/// catch-up loop, which runs every 100 ms, brings it up to date: a holder's release
/// in that time reached such a waiter up to 100 ms late (whenever another writer
/// joined the line between a waiter's look and its watch: in the contention
/// benchmark, one handoff in seven took 30 ms or more). So the watch starts where its member
/// stands, and when that is past the look it counts from, it asks for a new look
/// (``WaitEnd/startedAfterLook``) and is given its count again (``recount(ahead:allKnown:seenThrough:)``),
/// which it goes on with.
///
/// The watch runs in a task of its own. ``waitEnd()`` says how the wait ended;
/// after ``WaitEnd/first``, ``guardEnd()`` says how the guard of the own key ended.
/// Dropping the watch, or cancelling the task that awaits ``guardEnd()``, stops it.
final class LineWatch: Sendable {
    /// How waiting for the first place ended.
    enum WaitEnd: Sendable, Equatable {
        /// No key is ahead any more: this writer's key is the first; the watch goes on.
        case first
        /// The watch started after the revision the count came from: deletions between
        /// the two were not seen. Look again and ``recount(ahead:allKnown:seenThrough:)``;
        /// the watch goes on, and keeps the deletions it sees meanwhile.
        case startedAfterLook
        /// The keys ahead were more than were counted, or the watch broke: look again.
        case lookAgain
        case ownKeyDeleted
    }

    /// How guarding the own key, after ``WaitEnd/first``, ended.
    enum GuardEnd: Sendable, Equatable {
        case ownKeyDeleted
        /// The stream ended or broke (a member went away), or history was compacted:
        /// the holder must look at its key and watch it anew.
        case broken(compacted: Bool)
    }

    /// The keys ahead, as a look at the line saw them.
    private struct Count {
        var ahead: Set<Data>
        /// Every key ahead is in `ahead` (the look read as far as the own key).
        let allKnown: Bool
        /// The look's revision: deletions up to it are in `ahead` already.
        let seenThrough: Int64

        init(ahead: Set<Data>, allKnown: Bool, seenThrough: Int64) {
            // A set of its own: removing from one shared with the caller's look would copy
            // it at the first deletion, the handoff's.
            var own = Set<Data>(minimumCapacity: ahead.count)
            own.formUnion(ahead)
            self.ahead = own
            self.allKnown = allKnown
            self.seenThrough = seenThrough
        }
    }

    private enum Phase {
        case counting(Count)
        /// Waiting for a new look; the deletions seen meanwhile, with their revisions.
        case awaitingLook(seen: [(key: Data, revision: Int64)])
        /// The own key is first: only its deletion matters.
        case guarding
        case ended
    }

    private let task: Task<Void, Never>
    private let waitEnds: AsyncStream<WaitEnd>
    private let waitEnded: AsyncStream<WaitEnd>.Continuation
    private let guardEnds: AsyncStream<GuardEnd>
    private let tally: Tally

    /// Starts watching every key in `range` for deletions, counting down `ahead`, the
    /// keys ahead of `own` as a look at revision `seenThrough` found them (`allKnown`
    /// when the look read as far as `own`).
    init(
        gateway: EtcdGateway, range: (key: Data, end: Data), own: Data, ahead: Set<Data>, allKnown: Bool,
        seenThrough revision: Int64
    ) {
        let (waitEnds, waitEnded) = AsyncStream<WaitEnd>.makeStream()
        let (guardEnds, guardEnded) = AsyncStream<GuardEnd>.makeStream()
        self.waitEnds = waitEnds
        self.waitEnded = waitEnded
        self.guardEnds = guardEnds
        let tally = Tally(Count(ahead: ahead, allKnown: allKnown, seenThrough: revision))
        self.tally = tally
        let request = WatchCreateRequest(
            create_request: .init(key: range.key, range_end: range.end, start_revision: nil, filters: ["NOPUT"]))
        task = Task {
            defer {
                waitEnded.finish()
                guardEnded.finish()
            }
            do throws(EtcdLockError) {
                try await gateway.stream("/v3/watch", request) { (text) throws(EtcdLockError) -> Bool in
                    guard let answer = try? JSONDecoder().decode(WatchLine.self, from: text), let result = answer.result else {
                        throw EtcdLockError(.unexpectedResponse, "watch: \(EtcdGateway.excerpt(Array(text)))")
                    }
                    // Compacted or cancelled: look again rather than trust the stream.
                    if result.canceled == true || (result.compact_revision?.value ?? 0) > 0 {
                        let compacted = (result.compact_revision?.value ?? 0) > 0
                        if tally.end() { guardEnded.yield(.broken(compacted: compacted)) } else { waitEnded.yield(.lookAgain) }
                        return true
                    }
                    if result.created == true {
                        LineWatch.decodeSampleDeletion()
                        if let started = result.header?.revision?.value, let end = tally.registered(at: started) {
                            waitEnded.yield(end)
                        }
                    }
                    for event in result.events ?? [] where event.type == "DELETE" {
                        guard let deleted = event.kv?.key else { continue }
                        if deleted == own {
                            if tally.end() { guardEnded.yield(.ownKeyDeleted) } else { waitEnded.yield(.ownKeyDeleted) }
                            return true
                        }
                        if let end = tally.deleted(deleted, at: event.kv?.mod_revision?.value ?? Int64.max) {
                            waitEnded.yield(end)
                        }
                    }
                    return false
                }
            } catch {
                if Task.isCancelled { return }
                if tally.end() {
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

    /// How many deletions the watch has kept for the count since it asked for a new look.
    var deletionsAwaitingLook: Int { tally.deletionsAwaitingLook }

    /// Counts anew after ``WaitEnd/startedAfterLook``, from a look at revision
    /// `seenThrough` (which the cluster's linearizable reads put at or after the
    /// watch's start); the deletions the watch saw meanwhile count if they came after it.
    func recount(ahead: Set<Data>, allKnown: Bool, seenThrough revision: Int64) {
        if let end = tally.recount(Count(ahead: ahead, allKnown: allKnown, seenThrough: revision)) { waitEnded.yield(end) }
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

    /// The count, shared by the watch's task and the waiter that looks again.
    private final class Tally: Sendable {
        private let phase: Mutex<Phase>

        init(_ count: Count) {
            phase = Mutex(.counting(count))
        }

        /// The watch started after `revision`: if that is past the count's look, wait for a new look.
        func registered(at revision: Int64) -> WaitEnd? {
            phase.withLock { phase in
                guard case .counting(let count) = phase, revision > count.seenThrough else { return nil }
                phase = .awaitingLook(seen: [])
                return .startedAfterLook
            }
        }

        /// A key other than the own one was deleted at `revision`.
        func deleted(_ key: Data, at revision: Int64) -> WaitEnd? {
            phase.withLock { phase in
                guard case .awaitingLook(var seen) = phase else { return Self.count(key, at: revision, in: &phase) }
                phase = .ended  // Not to copy `seen` on appending.
                seen.append((key, revision))
                phase = .awaitingLook(seen: seen)
                return nil
            }
        }

        var deletionsAwaitingLook: Int {
            phase.withLock { phase in
                guard case .awaitingLook(let seen) = phase else { return 0 }
                return seen.count
            }
        }

        /// Counts anew from a new look, with the deletions seen while it was made.
        func recount(_ count: Count) -> WaitEnd? {
            phase.withLock { phase in
                guard case .awaitingLook(let seen) = phase else { return nil }
                phase = .counting(count)
                for deletion in seen {
                    if let end = Self.count(deletion.key, at: deletion.revision, in: &phase) { return end }
                }
                return nil
            }
        }

        /// Whether the wait had ended in the first place (the guard ends now); ends the count.
        func end() -> Bool {
            phase.withLock { phase in
                defer { phase = .ended }
                if case .guarding = phase { return true }
                return false
            }
        }

        /// Counts down one deletion; the end of the wait when it was the last key ahead.
        private static func count(_ key: Data, at revision: Int64, in phase: inout Phase) -> WaitEnd? {
            guard case .counting(var count) = phase, revision > count.seenThrough else { return nil }
            phase = .ended  // Not to copy `count.ahead` on removing.
            guard count.ahead.remove(key) != nil, count.ahead.isEmpty else {
                phase = .counting(count)
                return nil
            }
            guard count.allKnown else { return .lookAgain }
            // The rest of these events, and the ones after, are the holder's to see.
            phase = .guarding
            return .first
        }
    }
}
