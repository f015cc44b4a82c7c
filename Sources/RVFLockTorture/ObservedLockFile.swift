#if canImport(Glibc)
import Glibc
#endif

/// The lock file as a bystander reads it, decoded by the harness's own reading of
/// the 104-byte format (not the library's decoder, which is what is under test).
///
/// Layout, little-endian: magic `RVLF` (0x52564C46) at 0, pid at 4, NUL-terminated
/// hostname in 8..<72, timestamp at 0x48, writer id in 0x50..<0x60, version 1 at
/// 0x60, and at 0x64 the CRC32C (RVFLock) or IEEE CRC32 (the reference) of 0..<0x64.
struct ObservedLockFile {
    let pid: UInt32
    let hostname: [UInt8]
    /// Lowercase hex of the 16 raw bytes, as the workers log writer ids.
    let writerID: String

    static let size = 104

    /// Reads and decodes `path`; the error says what is wrong with it.
    static func read(_ path: String) -> Result<ObservedLockFile, Problem> {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(errno == ENOENT ? .missing : .unreadable(errno)) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return .failure(.unreadable(errno)) }
        guard info.st_size == size else { return .failure(.wrongSize(Int(info.st_size))) }
        var bytes = [UInt8](repeating: 0, count: size + 1)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count == size else { return .failure(.wrongSize(count)) }
        return decode(Array(bytes.prefix(size)))
    }

    static func decode(_ bytes: [UInt8]) -> Result<ObservedLockFile, Problem> {
        func uint32(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) } }
        guard bytes.count == size else { return .failure(.wrongSize(bytes.count)) }
        guard uint32(0) == 0x5256_4C46 else { return .failure(.badMagic(String(decoding: bytes.prefix(16), as: UTF8.self))) }
        guard uint32(0x60) == 1 else { return .failure(.badVersion) }
        let body = Array(bytes[0..<0x64])
        let stored = uint32(0x64)
        guard stored == Checksums.crc32c(body) || stored == Checksums.crc32(body) else { return .failure(.badChecksum) }
        let hostname = Array(bytes[8..<72].prefix { $0 != 0 })
        let writerID = bytes[0x50..<0x60].map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined()
        return .success(ObservedLockFile(pid: uint32(4), hostname: hostname, writerID: writerID))
    }

    enum Problem: Error, CustomStringConvertible {
        case missing
        case unreadable(CInt)
        case wrongSize(Int)
        case badMagic(String)
        case badVersion
        case badChecksum

        /// One word, for the event log.
        var description: String {
            switch self {
            case .missing: "missing"
            case .unreadable(let code): "unreadable-errno-\(code)"
            case .wrongSize(let size): "size-\(size)"
            case .badMagic: "bad-magic"
            case .badVersion: "bad-version"
            case .badChecksum: "bad-checksum"
            }
        }
    }
}

/// The two CRCs found in lock records, table-driven.
enum Checksums {
    private static func table(_ polynomial: UInt32) -> [UInt32] {
        (0..<256).map { index in
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ polynomial : value >> 1 }
            return value
        }
    }

    private static let castagnoli = table(0x82F6_3B78)

    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = castagnoli[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 { CRC32.checksum(bytes) }
}
