/// A failure of the etcd cluster or of its configuration, as an ``EtcdWriterLock``
/// meets it: nothing is held when one is thrown from an acquisition.
///
/// Failures that a file lock has too keep the file lock's type, so that one
/// `catch` serves both: a wait that times out throws `LockError.timedOut`, a
/// busy lock `LockError.busy`, a cancelled wait `LockError.cancelled`, and a
/// lease lost while held `LockError.lockLost`.
///
/// ```swift
/// do {
///     try await lock.withLock(timeout: .seconds(10)) { scope in ... }
/// } catch LockError.timedOut {
///     print("another writer kept it for 10 s")
/// } catch let error as EtcdLockError where error.code == .unavailable {
///     print("no quorum: \(error)")
/// }
/// ```
public struct EtcdLockError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; stable across releases.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The raw value, stable for logging.
        public let rawValue: String

        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// The options cannot work: no endpoint, a malformed URL, a lease TTL etcd refuses.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// No endpoint could be connected to, or none answered within the request timeout.
        public static let unreachable = Code("unreachable")
        /// A TLS handshake failed: a certificate not trusted, or an endpoint that does not speak TLS.
        public static let tlsFailed = Code("tlsFailed")
        /// The cluster answered, but could not serve the request: no leader, no
        /// quorum, a request that timed out inside the cluster.
        public static let unavailable = Code("unavailable")
        /// The cluster answered something this library does not understand (not
        /// etcd's JSON gateway, or a version without it).
        public static let unexpectedResponse = Code("unexpectedResponse")

        /// The raw value.
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// The whole message: what happened, where, and what to do.
    public let description: String
    /// Whether trying again soon may succeed: the cluster answered that it cannot
    /// serve now (an election, no quorum yet), or an endpoint did not answer in
    /// time; not when every endpoint refused the connection or the TLS handshake.
    let isTransient: Bool

    init(_ code: Code, _ message: String, transient: Bool = false) {
        self.code = code
        self.description = message
        self.isTransient = transient
    }
}

extension EtcdLockError.Code {
    /// Whether `error` is an ``EtcdLockError`` with this code: `catch EtcdLockError.Code.unreachable`.
    public static func ~= (code: EtcdLockError.Code, error: any Error) -> Bool {
        (error as? EtcdLockError)?.code == code
    }
}
