/// The 104-byte record stored in an RVF lock file.
///
/// Layout (all integers little-endian), identical to the reference implementation:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0x00 | 4 | magic `0x52564C46` (bytes `F L V R` on disk) |
/// | 0x04 | 4 | pid of the writer |
/// | 0x08 | 64 | hostname, UTF-8, NUL-terminated, zero-padded |
/// | 0x48 | 8 | timestamp, nanoseconds since the UNIX epoch |
/// | 0x50 | 16 | writer id |
/// | 0x60 | 4 | lock version, 1 |
/// | 0x64 | 4 | checksum over bytes 0x00..<0x64 |
///
/// RVFLock writes CRC32C; decoding accepts CRC32C or the IEEE CRC32 that the
/// reference writes. Decoding is strict enough that any record it accepts
/// encodes back to exactly the bytes it came from.
public struct LockRecord: Hashable, Sendable {
    /// The size of every lock file, in bytes.
    public static let size = 104
    /// The magic number at offset 0.
    public static let magic: UInt32 = 0x5256_4C46
    /// The only lock version this library reads and writes.
    public static let currentVersion: UInt32 = 1
    /// The longest hostname the record holds, in bytes, leaving room for the NUL.
    public static let maximumHostnameLength = 63

    /// The two checksum algorithms found in lock records.
    public enum Checksum: String, Hashable, Sendable {
        /// CRC32C (Castagnoli): what the format document specifies and RVFLock writes.
        case crc32c
        /// IEEE CRC32 (zlib): what the reference implementation writes.
        case crc32
    }

    /// The process id of the writer, as seen in the writer's PID namespace.
    public var pid: UInt32
    /// The hostname bytes, without the NUL terminator and padding.
    ///
    /// Kept raw because the reference cuts hostnames at 62 bytes without regard
    /// for UTF-8 boundaries; ``hostname`` is the readable form.
    public var hostnameBytes: [UInt8]
    /// Wall-clock time of the acquisition or of the holder's last heartbeat,
    /// in nanoseconds since the UNIX epoch.
    public var timestampNanoseconds: UInt64
    /// The identity of this acquisition.
    public var writerID: WriterID
    /// The lock protocol version; ``currentVersion`` for every record that decodes.
    public var version: UInt32
    /// The checksum algorithm used when encoding, or found when decoding.
    public var checksum: Checksum

    /// Creates a record, cutting `hostname` to at most 63 bytes at a character boundary.
    public init(
        pid: UInt32,
        hostname: String,
        timestampNanoseconds: UInt64,
        writerID: WriterID,
        checksum: Checksum = .crc32c
    ) {
        self.pid = pid
        self.hostnameBytes = Self.truncatedHostname(hostname)
        self.timestampNanoseconds = timestampNanoseconds
        self.writerID = writerID
        self.version = Self.currentVersion
        self.checksum = checksum
    }

    /// The hostname as text; bytes that are not valid UTF-8 show as U+FFFD.
    public var hostname: String {
        String(decoding: hostnameBytes, as: UTF8.self)
    }

    /// The UTF-8 bytes of `hostname`, cut to at most 63 bytes without splitting a character.
    static func truncatedHostname(_ hostname: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for character in hostname where character != "\0" {
            let utf8 = Array(character.utf8)
            guard bytes.count + utf8.count <= maximumHostnameLength else { break }
            bytes += utf8
        }
        return bytes
    }

    /// The 104 bytes of the lock file.
    public func encoded() -> [UInt8] {
        withEncodedBytes { Array($0) }
    }

    /// Calls `body` with the 104 bytes of the lock file, encoded on the stack.
    func withEncodedBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeTemporaryAllocation(byteCount: Self.size, alignment: 8) { (buffer) throws(E) -> R in
            encode(into: buffer)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    private func encode(into buffer: UnsafeMutableRawBufferPointer) {
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        buffer.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0x00, as: UInt32.self)
        buffer.storeBytes(of: pid.littleEndian, toByteOffset: 0x04, as: UInt32.self)
        let hostname = hostnameBytes.prefix(Self.maximumHostnameLength)
        for (offset, byte) in hostname.enumerated() { buffer[0x08 + offset] = byte }
        buffer.storeBytes(of: timestampNanoseconds.littleEndian, toByteOffset: 0x48, as: UInt64.self)
        buffer.storeBytes(of: writerID.high.littleEndian, toByteOffset: 0x50, as: UInt64.self)
        buffer.storeBytes(of: writerID.low.littleEndian, toByteOffset: 0x58, as: UInt64.self)
        buffer.storeBytes(of: version.littleEndian, toByteOffset: 0x60, as: UInt32.self)
        let covered = UnsafeRawBufferPointer(rebasing: buffer[0..<0x64])
        let crc = checksum == .crc32c ? CRC32.castagnoli.checksum(covered) : CRC32.ieee.checksum(covered)
        buffer.storeBytes(of: crc.littleEndian, toByteOffset: 0x64, as: UInt32.self)
    }

    /// Decodes a lock file's bytes.
    ///
    /// - Throws: ``DecodingFailure`` naming the first thing wrong with the bytes.
    public init(decoding bytes: some Collection<UInt8>) throws(DecodingFailure) {
        let bytes = Array(bytes)
        guard bytes.count == Self.size else { throw .wrongSize(bytes.count) }
        let magic = LittleEndian.uint32(bytes, at: 0x00)
        guard magic == Self.magic else { throw .badMagic(magic) }
        let stored = LittleEndian.uint32(bytes, at: 0x64)
        let castagnoli = Self.checksum(of: bytes, using: .crc32c)
        let ieee = Self.checksum(of: bytes, using: .crc32)
        let checksum: Checksum
        if stored == castagnoli {
            checksum = .crc32c
        } else if stored == ieee {
            checksum = .crc32
        } else {
            throw .checksumMismatch(stored: stored, crc32c: castagnoli, crc32: ieee)
        }
        let version = LittleEndian.uint32(bytes, at: 0x60)
        guard version == Self.currentVersion else { throw .unsupportedVersion(version) }
        let field = bytes[0x08..<0x48]
        guard let terminator = field.firstIndex(of: 0) else { throw .hostnameNotTerminated }
        guard field[terminator...].allSatisfy({ $0 == 0 }) else { throw .hostnamePaddingNotZero }
        self.pid = LittleEndian.uint32(bytes, at: 0x04)
        self.hostnameBytes = Array(field[..<terminator])
        self.timestampNanoseconds = LittleEndian.uint64(bytes, at: 0x48)
        self.writerID = WriterID(bytes: bytes[0x50..<0x60])
        self.version = version
        self.checksum = checksum
    }

    static func checksum(of record: [UInt8], using algorithm: Checksum) -> UInt32 {
        let covered = record[0..<0x64]
        switch algorithm {
        case .crc32c: return CRC32.castagnoli.checksum(covered)
        case .crc32: return CRC32.ieee.checksum(covered)
        }
    }
}
