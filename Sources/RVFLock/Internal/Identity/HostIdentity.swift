import Glibc
import CRVFLockShims
import SystemPackage

/// Who this process is, for writing records and for judging other holders.
///
/// RVFLock writes the hostname from `gethostname()`, never from `$HOSTNAME`, so
/// that two RVFLock processes on one machine always agree about "same host".
/// The reference writes `$HOSTNAME`, or `/etc/hostname` when that is unset
/// (cron, systemd services), which can differ from `gethostname()` after a
/// runtime rename or with a transient (DHCP, cloud) name: those names are this
/// machine's *aliases*, and a record naming one is judged by its PID, like a
/// record naming this host, but never declared stale sooner than a record from
/// another host would be (a machine elsewhere may really use that name).
///
/// The boot identity (`/proc/sys/kernel/random/boot_id` on Linux) names this
/// running kernel: two machines that share a hostname and a filesystem still
/// differ in it, and it changes at every reboot.
struct HostIdentity: Sendable {
    let hostname: String
    let hostnameBytes: [UInt8]
    /// Other names the reference may write for this machine, each also cut the
    /// way the reference cuts it (62 raw bytes). An array, not a set: there are a
    /// handful, and a set of arrays costs a runtime conformance lookup at start-up.
    let aliases: [[UInt8]]
    /// Identifies the running kernel, or nil where the platform has no boot id.
    let bootID: [UInt8]?
    /// The boot tag's and the writer tag's hashes of their fixed parts (nil without a boot id).
    private let bootTagSeed: FNV1a?
    private let writerTagSeed: FNV1a?
    /// One above the largest PID this kernel hands out; PIDs at or above it are never probed.
    let pidLimit: Int64

    /// How a record's hostname relates to this machine.
    enum Match {
        /// `gethostname()`, as RVFLock writes it or as the reference cuts it.
        case thisHost
        /// A name the reference on this machine may write instead (`$HOSTNAME`,
        /// `/etc/hostname`), which is not `gethostname()`.
        case alias
        case otherHost
    }

    static let current: HostIdentity = {
        let hostname = (try? Syscalls.hostname()) ?? ""
        var names: [String] = []
        if let variable = getenv("HOSTNAME") { names.append(String(cString: variable)) }
        let fileName = Syscalls.readSmallFile("/etc/hostname").map { bytes in
            String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        }
        if let fileName { names.append(fileName) }
        // With neither, the reference writes "unknown" (as a reference elsewhere may).
        if getenv("HOSTNAME") == nil && fileName == nil { names.append("unknown") }
        return HostIdentity(
            hostname: hostname,
            aliases: names,
            bootID: readBootID(),
            pidLimit: {
                let limit = Int64(rvf_pid_max())
                return limit > 0 ? limit : Int64(Int32.max)
            }())
    }()

    init(hostname: String, aliases: [String] = [], bootID: [UInt8]?, pidLimit: Int64) {
        self.hostname = hostname
        self.hostnameBytes = LockRecord.truncatedHostname(hostname)
        let own = [hostnameBytes, Self.referenceCut(hostname)]
        var aliasBytes: [[UInt8]] = []
        for alias in aliases where !alias.isEmpty {
            for name in [LockRecord.truncatedHostname(alias), Self.referenceCut(alias)]
            where !own.contains(name) && !aliasBytes.contains(name) {
                aliasBytes.append(name)
            }
        }
        self.aliases = aliasBytes
        self.bootID = bootID
        self.pidLimit = pidLimit
        // The tags hash their fixed parts first: every acquisition starts from these.
        self.bootTagSeed = bootID.map { bootID in
            var hash = FNV1a()
            hash.mix("RVFLock boot tag v2")
            hash.mix(bootID)
            return hash
        }
        self.writerTagSeed = bootID.map { bootID in
            var hash = FNV1a()
            hash.mix("RVFLock writer tag v2")
            hash.mix(bootID)
            return hash
        }
    }

    /// A hostname as the reference writes it: cut at 62 raw bytes.
    private static func referenceCut(_ name: String) -> [UInt8] {
        Array(name.utf8.prefix(62))
    }

    private static func readBootID() -> [UInt8]? {
        guard let bytes = Syscalls.readSmallFile("/proc/sys/kernel/random/boot_id", limit: 64) else { return nil }
        let trimmed = bytes.filter { $0 != UInt8(ascii: "\n") }
        return trimmed.isEmpty ? nil : trimmed
    }

    /// How a record's hostname relates to this machine, allowing for the
    /// reference's habit of cutting hostnames at 62 raw bytes.
    func match(_ recordHostname: [UInt8]) -> Match {
        if recordHostname == hostnameBytes { return .thisHost }
        if !recordHostname.isEmpty && recordHostname == Array(hostname.utf8.prefix(62)) { return .thisHost }
        if aliases.contains(recordHostname) { return .alias }
        return .otherHost
    }

    /// A writer id that a judge on this machine can check against what it sees.
    ///
    /// The first half is random (``Syscalls/writerNonce()``). The second half holds
    /// two tags computed from it:
    /// - 40 bits bind it to this kernel boot and to the file system the lock is on
    ///   (its directory's device): a judge on the same boot and the same mount knows
    ///   the writer takes `flock()` on its lock file while alive (see
    ///   ``StalenessJudge``). Not on another mount of the same files whose `flock()`
    ///   domain may differ (a FUSE mount such as bindfs shows other devices).
    /// - 24 bits bind it to the writer's PID namespace, PID and start time: a judge
    ///   in the same namespace can tell whether the process that has the PID now is
    ///   the writer, or one that got the PID later.
    ///
    /// The record stays readable by the reference (a writer id is opaque to it).
    func makeWriterID(fileSystem: UInt64) -> WriterID {
        let nonce = Syscalls.writerNonce()
        guard let boot = bootTag(for: nonce, fileSystem: fileSystem) else {
            return WriterID(high: nonce, low: Syscalls.writerNonce())
        }
        let own = ProcessIdentity.current
        let writer =
            writerTag(
                for: nonce, pid: UInt32(clamping: own.pid), startTicks: own.startTicks ?? 0,
                pidNamespace: own.pidNamespace ?? 0) ?? 0
        return WriterID(high: nonce, low: boot << 24 | writer)
    }

    /// Whether `writerID` was made by ``makeWriterID(fileSystem:)`` on this very kernel
    /// boot, for a lock on the file system `fileSystem`.
    func isWrittenOnThisBoot(_ writerID: WriterID, fileSystem: UInt64) -> Bool {
        guard let tag = bootTag(for: writerID.high, fileSystem: fileSystem) else { return false }
        return tag == writerID.low >> 24
    }

    /// Whether `writerID` was made on this boot by the process that has `pid` now in
    /// this process's PID namespace, which started `startTicks` after boot.
    func isWrittenBy(_ writerID: WriterID, pid: UInt32, startTicks: UInt64) -> Bool {
        guard let namespace = ProcessIdentity.current.pidNamespace,
            let tag = writerTag(for: writerID.high, pid: pid, startTicks: startTicks, pidNamespace: namespace)
        else { return false }
        return tag == writerID.low & 0xFF_FFFF
    }

    /// 40 bits: this boot and this file system. Not a secret, only a marker that a
    /// random writer id matches by chance with odds 2^-40.
    private func bootTag(for nonce: UInt64, fileSystem: UInt64) -> UInt64? {
        guard var hash = bootTagSeed else { return nil }
        hash.mix(fileSystem)
        hash.mix(nonce)
        return hash.value >> 24
    }

    /// 24 bits: this boot, the writer's PID namespace, PID and start time.
    private func writerTag(for nonce: UInt64, pid: UInt32, startTicks: UInt64, pidNamespace: UInt64) -> UInt64? {
        guard var hash = writerTagSeed else { return nil }
        hash.mix(pidNamespace)
        hash.mix(UInt64(pid))
        hash.mix(startTicks)
        hash.mix(nonce)
        return hash.value & 0xFF_FFFF
    }
}

/// 64-bit FNV-1a, for the writer id's tags.
private struct FNV1a: Sendable {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func mix(_ byte: UInt8) { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    mutating func mix(_ bytes: some Sequence<UInt8>) { for byte in bytes { mix(byte) } }
    mutating func mix(_ text: String) { mix(text.utf8) }
    mutating func mix(_ number: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: number >> UInt64(shift))) }
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and newlines (as Rust's `trim` for ASCII).
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
