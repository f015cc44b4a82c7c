import Logging
import Metrics
import RVFLock
import Synchronization

/// Keeps one etcd lease alive, and says when it is lost: the cluster reports it
/// gone (revoked, or expired), its key was deleted (``markLost(_:)`` from the
/// key's watch), or no keep-alive was answered for so long that the cluster may
/// already have let it expire.
///
/// The last point is judged on this machine's monotonic clock: the cluster
/// cannot expire the lease before the TTL has passed since the last keep-alive
/// it answered was *sent*, so the lease counts as lost a tenth of the TTL
/// before that, whatever the cluster says afterwards. A new leader only ever
/// extends leases, so this errs on the safe side.
final class LeaseKeeper: Sendable {
    let id: Int64
    let ttl: Duration
    private let gateway: EtcdGateway
    private let logger: Logger?
    private let state = Mutex<State>(State())
    private let lossHandlers = LossHandlers()
    private let stopped = Atomic<Bool>(false)
    /// When the lease counts as lost unless a keep-alive is answered first: also
    /// checked by ``isLost``, so that a holder that was paused (and whose keep-alive
    /// task has not run yet) knows at once on waking.
    private let lossDeadline: Mutex<ContinuousClock.Instant>
    private let lastAnsweredSend: Mutex<ContinuousClock.Instant>

    private struct State {
        var lossReason: String?
        var task: Task<Void, Never>?
    }

    /// Pause between two keep-alive attempts after a failed one.
    static let retryPause = Duration.milliseconds(200)

    static let keepAliveFailures = Counter(label: "rvflock_etcd_keepalive_failures")
    static let losses = Counter(label: "rvflock_etcd_losses")

    /// Starts keeping the lease `id` alive; `grantSentAt` is when the request that
    /// created it was sent (the cluster's TTL runs from later than that).
    init(id: Int64, ttl: Duration, grantSentAt: ContinuousClock.Instant, gateway: EtcdGateway, logger: Logger?) {
        self.id = id
        self.ttl = ttl
        self.gateway = gateway
        self.logger = logger
        lossDeadline = Mutex(grantSentAt + Self.lossMargin(ttl))
        lastAnsweredSend = Mutex(grantSentAt)
        let task = Task { [weak self] () async -> Void in await self?.keepAlive(lastAnsweredSend: grantSentAt) }
        state.withLock { $0.task = task }
    }

    /// True once the lease was found lost, or once no keep-alive was answered in
    /// time (this holder was paused, or cut off), whether or not the keep-alive
    /// task has noticed yet.
    var isLost: Bool {
        if lossHandlers.hasFired { return true }
        guard !stopped.load(ordering: .acquiring), ContinuousClock.now >= lossDeadline.withLock({ $0 }) else { return false }
        markLost(expiryReason(lastFailure: nil))
        return true
    }

    /// The lease counts as lost this long after the last answered keep-alive was sent.
    static func lossMargin(_ ttl: Duration) -> Duration { ttl - ttl / 10 }

    private func expiryReason(lastFailure: String?) -> String {
        let since = ContinuousClock.now - lastAnsweredSend.withLock { $0 }
        return "no keep-alive of lease \(hexID) was answered for \(since.formattedSeconds) s of its \(ttl.formattedSeconds) s TTL"
            + (lastFailure.map { " (last failure: \($0))" } ?? " (this process may have been paused)")
            + ", so the cluster may have let it expire"
    }

    var lossReason: String? { state.withLock { $0.lossReason } }

    /// The lease id as etcd prints it (`694d81e3b1a2c005`), and as the key ends.
    var hexID: String { String(UInt64(bitPattern: id), radix: 16) }

    /// Stops renewing the lease (it is being revoked, or let go).
    func stop() {
        stopped.store(true, ordering: .releasing)
        state.withLock { $0.task }?.cancel()
    }

    // MARK: Keep-alive

    private func keepAlive(lastAnsweredSend start: ContinuousClock.Instant) async {
        var lastAttempt = start
        var lastFailure: String?
        let period = ttl / 3
        while !Task.isCancelled {
            let lossDeadline = self.lossDeadline.withLock { $0 }
            let next = lastAttempt + (lastFailure == nil ? period : Self.retryPause)
            try? await Task.sleep(until: min(next, lossDeadline))
            if Task.isCancelled || stopped.load(ordering: .acquiring) { return }
            if ContinuousClock.now >= lossDeadline {
                markLost(expiryReason(lastFailure: lastFailure))
                return
            }
            let sentAt = ContinuousClock.now
            lastAttempt = sentAt
            switch await renew(until: min(sentAt + period, lossDeadline)) {
            case .renewed:
                lastFailure = nil
            case .refused(let reason):
                lastFailure = reason
                Self.keepAliveFailures.increment()
            case .gone:
                markGone()
                return
            case .failed(let reason):
                if Task.isCancelled { return }
                lastFailure = reason
                Self.keepAliveFailures.increment()
                logger?.warning("keep-alive of etcd lease \(hexID) failed: \(reason); retrying")
            }
        }
    }

    /// The loss a keep-alive learns of: the cluster has no such lease any more.
    private func markGone() {
        markLost("the cluster says lease \(hexID) no longer exists: it was revoked, or expired")
    }

    private enum Renewal {
        case renewed
        /// The cluster answered with an error (no leader, say).
        case refused(String)
        /// The cluster says the lease no longer exists.
        case gone
        /// No answer.
        case failed(String)
    }

    /// One keep-alive; an answered one moves the loss deadline on.
    private func renew(until deadline: ContinuousClock.Instant) async -> Renewal {
        let sentAt = ContinuousClock.now
        do throws(EtcdLockError) {
            let answer: LeaseKeepAliveLine = try await gateway.call(
                "/v3/lease/keepalive", LeaseIDRequest(ID: EtcdInt64(id)), deadline: deadline)
            if let error = answer.error { return .refused(error.text) }
            guard (answer.result?.TTL?.value ?? 0) > 0 else { return .gone }
            // An early renewal may be answered after a later one of the loop's.
            lastAnsweredSend.withLock { $0 = max($0, sentAt) }
            lossDeadline.withLock { $0 = max($0, sentAt + Self.lossMargin(ttl)) }
            return .renewed
        } catch {
            return .failed(error.description)
        }
    }

    /// Renews the lease once now, beside the schedule, when a writer starts to wait in
    /// line: the line's watch holds the connection the writer has, so this renewal opens
    /// a second one, which then stays open, idle, until the release's deletion uses it.
    /// The deletion, on the handoff's path, then opens no connection.
    func renewEarly() {
        Task { [weak self] in
            guard let self, !self.stopped.load(ordering: .acquiring) else { return }
            if case .gone = await self.renew(until: .now + self.ttl / 3) {
                self.markGone()
            }
        }
    }

    // MARK: Loss

    /// Records the loss (the first reason wins) and runs the loss handlers once.
    func markLost(_ reason: String) {
        guard !stopped.load(ordering: .acquiring) else { return }
        state.withLock { if $0.lossReason == nil { $0.lossReason = reason } }
        let first = lossHandlers.fire {
            Self.losses.increment()
            logger?.critical("lost etcd lease \(hexID): \(reason)")
        }
        guard first else { return }
        state.withLock { $0.task }?.cancel()
    }

    /// Runs `handler` once when the lease is lost (at once if it already is).
    @discardableResult
    func onLoss(_ handler: @escaping @Sendable () -> Void) -> UInt64? {
        lossHandlers.add(handler)
    }

    /// Removes a handler; if it is running now, returns only once it has finished.
    /// A handler must not call this.
    func removeLossHandler(_ id: UInt64?) {
        lossHandlers.remove(id)
    }

    /// Returns when the lease is lost, or when the calling task is cancelled.
    func waitUntilLost() async {
        let (stream, continuation) = AsyncStream<Never>.makeStream()
        let handler = onLoss { continuation.finish() }
        for await _ in stream {}
        removeLossHandler(handler)
    }
}

extension Duration {
    /// Seconds with one decimal, for messages: "2.5".
    var formattedSeconds: String {
        let tenths = (Double(nanoseconds) / 100_000_000).rounded()
        let whole = Int64(tenths)
        return "\(whole / 10).\(abs(whole % 10))"
    }
}
