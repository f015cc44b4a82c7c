#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RVFLock
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
            throw CommandFailure(ExitCodes.usage, "no etcd cluster named: give --etcd ENDPOINTS or set RVF_LOCK_ETCD")
        }
        var options: EtcdOptions
        do throws(EtcdLockError) { options = try EtcdOptions(endpointList: list) } catch {
            throw CommandFailure(ExitCodes.usage, error.description)
        }
        if let prefix = prefix ?? Self.environment("RVF_LOCK_ETCD_PREFIX") { options.prefix = prefix }
        if let ttl = ttlSeconds ?? Self.environment("RVF_LOCK_ETCD_TTL").flatMap({ Int($0) }) {
            guard ttl >= 2 else { throw CommandFailure(ExitCodes.usage, "the etcd lease TTL must be 2 seconds or more, not \(ttl)") }
            options.leaseTTL = .seconds(ttl)
        }
        options.trustedCertificatesFile = Self.environment("RVF_LOCK_ETCD_CACERT")
        guard !file.isEmpty else { throw CommandFailure(ExitCodes.usage, "FILE is empty; name the data file, e.g. data.rvf") }
        return EtcdWriterLock(dataFile: file, etcd: options, keyName: name ?? Self.environment("RVF_LOCK_ETCD_NAME"))
    }
}

/// rvf-lock's exit codes, those this program uses.
enum ExitCodes {
    static let success: Int32 = 0
    static let held: Int32 = 1
    static let usage: Int32 = 64
    static let unavailable: Int32 = 69
    static let software: Int32 = 70
    static let temporaryFailure: Int32 = 75

    /// The exit code for an acquisition's failure.
    static func of(_ error: any Error) -> Int32 {
        if let error = error as? LockError {
            switch error.code {
            case .busy, .timedOut: return temporaryFailure
            case .invalidPath: return usage
            case .notARegularFile: return 66
            case .unsupportedFileSystem: return unavailable
            default: return software
            }
        }
        if let error = error as? EtcdLockError {
            return error.code == .invalidConfiguration ? usage : unavailable
        }
        return software
    }
}

/// A failure the user must hear about: one line for standard error, and the exit status.
struct CommandFailure: Error {
    let exitStatus: Int32
    let message: String

    init(_ exitStatus: Int32, _ message: String) {
        self.exitStatus = exitStatus
        self.message = message
    }

    /// Prints "rvf-lock: MESSAGE" (the user ran rvf-lock) and returns the exit status.
    func report() -> Int32 {
        Output.error(message)
        return exitStatus
    }
}

/// Messages for people on standard error, results on standard output, with write(2).
enum Output {
    static func error(_ message: String) {
        write(2, "rvf-lock: \(message)\n")
    }

    static func line(_ text: String) {
        write(1, text + "\n")
    }

    static func write(_ descriptor: CInt, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
