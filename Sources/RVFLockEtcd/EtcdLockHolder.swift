import FoundationEssentials

/// A writer in an etcd lock's line, as its key says: the holder (first in line)
/// or one waiting behind it.
public struct EtcdLockHolder: Sendable, Hashable, CustomStringConvertible {
    /// The full key (`rvf-lock//srv/data.rvf/694d81e3b1a2c005`).
    public let key: String
    /// The key's create revision: the fencing token it holds, or will hold once first.
    public let fencingToken: Int64
    /// The lease the key is attached to.
    public let leaseID: Int64
    /// The machine of the writer (its host name), where the key says; nil for
    /// keys written by other programs (`etcdctl lock` writes none).
    public let hostname: String?
    /// The writer's process id on its machine.
    public let pid: Int32?
    /// The writer's program name.
    public let program: String?
    /// When the writer joined the line (wall clock, nanoseconds since 1970), by its own clock.
    public let sinceNanoseconds: UInt64?

    /// "pid 4242 (ingest) on host-b, token 1234" or, for a key without details, "key K, token 1234".
    public var description: String {
        guard let hostname, let pid else { return "key \(key), token \(fencingToken)" }
        let program = self.program.map { " (\($0))" } ?? ""
        return "pid \(pid)\(program) on \(hostname), token \(fencingToken)"
    }

    init(key: String, fencingToken: Int64, leaseID: Int64, details: Details?) {
        self.key = key
        self.fencingToken = fencingToken
        self.leaseID = leaseID
        self.hostname = details?.hostname
        self.pid = details?.pid
        self.program = details?.program
        self.sinceNanoseconds = details?.since_ns
    }

    init(_ keyValue: KeyValue) {
        self.init(
            key: String(decoding: keyValue.key, as: UTF8.self), fencingToken: keyValue.createRevision,
            leaseID: keyValue.lease?.value ?? 0,
            details: keyValue.value.flatMap { try? JSONDecoder().decode(Details.self, from: $0) })
    }

    /// What a writer puts in its key, as JSON: who it is, for `status` and for
    /// the messages of those who wait.
    struct Details: Codable, Sendable {
        var hostname: String?
        var pid: Int32?
        var program: String?
        var file: String?
        var since_ns: UInt64?
    }
}

/// The line of one data file's etcd lock: who holds it, who waits.
public struct EtcdLockLine: Sendable, CustomStringConvertible {
    /// The prefix every key of this line starts with (`rvf-lock//srv/data.rvf/`).
    public let keyPrefix: String
    /// The holder (the key with the lowest create revision), nil when the line is empty.
    public let holder: EtcdLockHolder?
    /// Those waiting behind it, in the order they will get it.
    public let waiting: [EtcdLockHolder]

    /// "held by pid 4242 on host-b, token 1234; 2 waiting", or "free".
    public var description: String {
        guard let holder else { return "free" }
        return "held by \(holder)" + (waiting.isEmpty ? "" : "; \(waiting.count) waiting")
    }
}
