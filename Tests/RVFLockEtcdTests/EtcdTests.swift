import Testing

/// Every suite that needs etcd, one test at a time: they start and stop
/// members and processes, share two cores, and several wait on a lease's TTL.
/// Skipped, with the reason, where etcd is not installed.
@Suite(
    .serialized, .timeLimit(.minutes(5)),
    .enabled(if: EtcdCluster.unavailableReason == nil, Comment(rawValue: EtcdCluster.unavailableReason ?? "")))
struct EtcdTests {
    /// One cluster for the suites that do not harm it; those that stop members start their own.
    static let shared = Task { try await EtcdCluster() }
}
