import ArgumentParser

/// `rvf-lock-etcd`: the etcd half of `rvf-lock --etcd`, and the fencing helper.
///
/// A program of its own so that `rvf-lock` links no networking code: `rvf-lock
/// exec --etcd` and `rvf-lock status --etcd` start it (beside `rvf-lock`, or on
/// PATH). Its exit codes are `rvf-lock`'s (Documentation/rvf-lock.md).
struct RVFLockEtcdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rvf-lock-etcd",
        abstract: "The etcd lease of the RVF writer lock, for writers on several machines.",
        discussion: """
            rvf-lock exec --etcd ENDPOINTS and rvf-lock status --etcd ENDPOINTS start this \
            program; it can also be used alone, to show who holds a data file's lease \
            (status) and to refuse writes fenced with an old token (fence).

            Every writer of a data file, on every machine, must use the same cluster, \
            key prefix and key name. The environment sets them for every command: \
            RVF_LOCK_ETCD (the endpoints), RVF_LOCK_ETCD_PREFIX (default rvf-lock), \
            RVF_LOCK_ETCD_NAME (default: the data file's absolute path), \
            RVF_LOCK_ETCD_TTL (seconds, default 10), RVF_LOCK_ETCD_CACERT (a PEM file \
            of trusted authorities for https endpoints).
            """,
        version: "0.1.0-dev",
        subcommands: [EtcdStatusCommand.self, FenceCommand.self, HoldCommand.self]
    )
}
