public import Logging

/// Where the etcd cluster is, and how an ``EtcdWriterLock`` uses it.
///
/// Every writer of one data file, on every machine, must name the same cluster,
/// ``prefix`` and key name (``EtcdWriterLock/keyName``): the key is what they
/// queue on.
public struct EtcdOptions: Sendable {
    /// The cluster's client URLs (`http://10.0.0.5:2379`, `https://etcd-1:2379`).
    /// Requests go to one at a time, the first that answers; when it does not
    /// answer, the next is tried. Name first the member that usually leads, or
    /// the nearest: a follower passes writes on to the leader, and hears of
    /// commits after it.
    public var endpoints: [String]

    /// The part of the key that names this use of the cluster: keys are
    /// `PREFIX/NAME/LEASE`. Writers that share a cluster for other data keep
    /// apart by using different prefixes.
    public var prefix: String = "rvf-lock"

    /// How long the cluster keeps a writer's key after the writer stops
    /// renewing it: a writer that dies or is cut off holds the lock at most
    /// this long, and a holder cut off from the cluster learns of its loss
    /// before this passes. etcd refuses less than about 2 s (1.5 election
    /// timeouts); whole seconds only.
    public var leaseTTL: Duration = .seconds(10)

    /// The longest one request to one endpoint may take before the next
    /// endpoint is tried.
    public var requestTimeout: Duration = .seconds(5)

    /// A PEM file of the certificate authorities to trust for `https` endpoints;
    /// nil trusts the system's.
    public var trustedCertificatesFile: String?

    /// Where acquisitions, losses and keep-alive failures are reported; nil reports nothing.
    public var logger: Logger?

    /// Options for the cluster at `endpoints`, with a 10-second lease.
    public init(endpoints: [String]) {
        self.endpoints = endpoints
    }

    /// Options for the cluster at a comma-separated list of URLs
    /// (`"http://etcd-1:2379,http://etcd-2:2379"`), as `ETCDCTL_ENDPOINTS` and
    /// `rvf-lock exec --etcd` take them; a URL without a scheme is `http`.
    ///
    /// - Throws: ``EtcdLockError/Code/invalidConfiguration`` for an empty list or
    ///   a URL that is not `http(s)://HOST:PORT`.
    public init(endpointList: String) throws(EtcdLockError) {
        self.init(endpoints: try Self.parseEndpoints(endpointList))
    }

    /// Splits and checks a comma-separated endpoint list.
    static func parseEndpoints(_ list: String) throws(EtcdLockError) -> [String] {
        var endpoints: [String] = []
        for item in list.split(separator: ",") {
            let trimmed = item.trimmingSpaces
            guard !trimmed.isEmpty else { continue }
            let endpoint = try EtcdEndpoint(parsing: trimmed)
            endpoints.append(endpoint.url)
        }
        guard !endpoints.isEmpty else {
            throw EtcdLockError(
                .invalidConfiguration,
                "no etcd endpoint given (\"\(list)\"); name the cluster's client URLs, "
                    + "e.g. http://etcd-1:2379,http://etcd-2:2379")
        }
        return endpoints
    }

    /// Checks the options as a whole: every endpoint a URL, the lease at least 2 s.
    func validated() throws(EtcdLockError) -> [EtcdEndpoint] {
        guard !endpoints.isEmpty else {
            throw EtcdLockError(.invalidConfiguration, "no etcd endpoint given; name the cluster's client URLs, e.g. http://etcd-1:2379")
        }
        var parsed: [EtcdEndpoint] = []
        for endpoint in endpoints { parsed.append(try EtcdEndpoint(parsing: endpoint)) }
        guard leaseTTL >= .seconds(2) else {
            throw EtcdLockError(
                .invalidConfiguration,
                "a lease TTL of \(leaseTTL) is shorter than etcd allows (about 2 s); use 2 s or more")
        }
        guard !prefix.isEmpty, !prefix.contains("\u{0}") else {
            throw EtcdLockError(.invalidConfiguration, "the etcd key prefix must not be empty or contain NUL")
        }
        return parsed
    }

    /// The lease TTL in whole seconds, as etcd takes it (rounded up).
    var leaseTTLSeconds: Int64 {
        let (seconds, attoseconds) = leaseTTL.components
        return attoseconds > 0 ? seconds + 1 : seconds
    }
}

extension Substring {
    /// The text without the spaces and tabs around it. Cut by index: a String made
    /// from the reversed, dropped sequence asks the Swift runtime for conformances
    /// of the sequence's types, six searches of every conformance in the program at
    /// each start of rvf-lock-etcd.
    var trimmingSpaces: String {
        let isSpace = { (character: Character) in character == " " || character == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
