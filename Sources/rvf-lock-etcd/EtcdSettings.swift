#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RVFLock
import RVFLockCommandLine
import RVFLockEtcd

/// The cluster and the key, from options or, where an option is not given, the environment.
struct EtcdSettings: ParsableArguments {
    @Option(
        name: .customLong("etcd"),
        help: ArgumentHelp("The cluster's client URLs, comma-separated (default: $RVF_LOCK_ETCD).", valueName: "ENDPOINTS"))
    var endpoints: String?

    @Option(
        name: .customLong("etcd-prefix"),
        help: ArgumentHelp("The key prefix (default: $RVF_LOCK_ETCD_PREFIX, or rvf-lock).", valueName: "PREFIX"))
    var prefix: String?

    @Option(
        name: .customLong("etcd-name"),
        help: ArgumentHelp("The key name (default: $RVF_LOCK_ETCD_NAME, or FILE's absolute path).", valueName: "NAME"))
    var name: String?

    @Option(
        name: .customLong("etcd-ttl"),
        help: ArgumentHelp("The lease TTL in seconds (default: $RVF_LOCK_ETCD_TTL, or 10).", valueName: "SECONDS"))
    var ttlSeconds: Int?

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// The lock of `file` as these settings describe it.
    func lock(for file: String) throws(CommandFailure) -> EtcdWriterLock {
        guard let list = endpoints ?? Self.environment("RVF_LOCK_ETCD") else {
            throw CommandFailure(ExitStatus.usage, "no etcd cluster named: give --etcd ENDPOINTS or set RVF_LOCK_ETCD")
        }
        var options: EtcdOptions
        do throws(EtcdLockError) { options = try EtcdOptions(endpointList: list) } catch {
            throw CommandFailure(ExitStatus.usage, error.description)
        }
        if let prefix = prefix ?? Self.environment("RVF_LOCK_ETCD_PREFIX") { options.prefix = prefix }
        if let ttl = ttlSeconds ?? Self.environment("RVF_LOCK_ETCD_TTL").flatMap({ Int($0) }) {
            guard ttl >= 2 else { throw CommandFailure(ExitStatus.usage, "the etcd lease TTL must be 2 seconds or more, not \(ttl)") }
            options.leaseTTL = .seconds(ttl)
        }
        options.trustedCertificatesFile = Self.environment("RVF_LOCK_ETCD_CACERT")
        guard !file.isEmpty else { throw CommandFailure(ExitStatus.usage, "FILE is empty; name the data file, e.g. data.rvf") }
        return EtcdWriterLock(dataFile: file, etcd: options, keyName: name ?? Self.environment("RVF_LOCK_ETCD_NAME"))
    }
}
