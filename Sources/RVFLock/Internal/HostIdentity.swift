#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRVFLockShims
import SystemPackage

/// Who this process is, for writing records and for judging other holders.
///
/// The hostname comes from `gethostname()`, never from `$HOSTNAME`, so that two
/// processes on one machine always agree about "same host". The boot identity
/// (`/proc/sys/kernel/random/boot_id` on Linux) names this running kernel: two
/// machines that share a hostname and a filesystem still differ in it, and it
/// changes at every reboot.
struct HostIdentity: Sendable {
    let hostname: String
    let hostnameBytes: [UInt8]
    /// This hostname as the reference would write it: cut at 62 raw bytes.
    let referenceHostnameBytes: [UInt8]
    /// Identifies the running kernel, or nil where the platform has no boot id.
    let bootID: [UInt8]?
    /// One above the largest PID this kernel hands out; PIDs at or above it are never probed.
    let pidLimit: Int64

    static let current: HostIdentity = {
        let hostname = (try? Syscalls.hostname()) ?? ""
        return HostIdentity(
            hostname: hostname,
            hostnameBytes: LockRecord.truncatedHostname(hostname),
            bootID: readBootID(),
            pidLimit: {
                let limit = Int64(rvf_pid_max())
                return limit > 0 ? limit : Int64(Int32.max)
            }())
    }()

    init(hostname: String, hostnameBytes: [UInt8], bootID: [UInt8]?, pidLimit: Int64) {
        self.hostname = hostname
        self.hostnameBytes = hostnameBytes
        self.referenceHostnameBytes = Array(hostname.utf8.prefix(62))
        self.bootID = bootID
        self.pidLimit = pidLimit
    }

    private static func readBootID() -> [UInt8]? {
        #if os(Linux)
        guard let descriptor = try? Syscalls.open("/proc/sys/kernel/random/boot_id", flags: O_RDONLY) else {
            return nil
        }
        defer { Syscalls.close(descriptor) }
        guard let bytes = try? Syscalls.preadPrefix(descriptor, count: 64) else { return nil }
        let trimmed = bytes.filter { $0 != UInt8(ascii: "\n") }
        return trimmed.isEmpty ? nil : trimmed
        #else
        return nil
        #endif
    }

    /// Whether a record's hostname names this host, allowing for the reference's
    /// habit of cutting hostnames at 62 raw bytes.
    func isSameHost(_ recordHostname: [UInt8]) -> Bool {
        if recordHostname == hostnameBytes { return true }
        return !recordHostname.isEmpty && recordHostname == referenceHostnameBytes
    }

    /// A writer id whose second half binds its first half to this kernel boot.
    ///
    /// The record stays readable by the reference (a writer id is opaque to it),
    /// and a judge on the same boot can tell that the holder takes `flock()` on
    /// its lock file while alive: see ``StalenessJudge``.
    func makeWriterID() -> WriterID {
        let nonce = Syscalls.randomUInt64()
        guard let tag = bootTag(for: nonce) else { return WriterID(high: nonce, low: Syscalls.randomUInt64()) }
        return WriterID(high: nonce, low: tag)
    }

    /// Whether `writerID` was made by ``makeWriterID()`` on this very kernel boot.
    func isWrittenOnThisBoot(_ writerID: WriterID) -> Bool {
        guard let tag = bootTag(for: writerID.high) else { return false }
        return tag == writerID.low
    }

    private func bootTag(for nonce: UInt64) -> UInt64? {
        guard let bootID else { return nil }
        // FNV-1a over a domain label, the boot id and the nonce: not a secret, only
        // a marker that a random writer id matches by chance with odds 2^-64.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in Array("RVFLock boot tag v1".utf8) + bootID + LittleEndian.bytes(of: nonce) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
