extension LockRecord {
    /// Why a lock file's bytes are not a valid record.
    ///
    /// An invalid lock file is not deleted on sight: it may be another
    /// implementation's lock that is still being written.
    public enum DecodingFailure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The file is not exactly 104 bytes long.
        case wrongSize(Int)
        /// The first four bytes are not `F L V R`.
        case badMagic(UInt32)
        /// The stored checksum matches neither CRC32C nor IEEE CRC32 of bytes 0..<0x64.
        case checksumMismatch(stored: UInt32, crc32c: UInt32, crc32: UInt32)
        /// The version field is not 1.
        case unsupportedVersion(UInt32)
        /// The 64-byte hostname field has no NUL byte.
        case hostnameNotTerminated
        /// Bytes after the hostname's NUL terminator are not zero.
        case hostnamePaddingNotZero

        public var description: String {
            switch self {
            case .wrongSize(let size):
                "file is \(size) bytes, a lock record is \(LockRecord.size)"
            case .badMagic(let magic):
                "bad magic 0x\(String(magic, radix: 16)), expected 0x\(String(LockRecord.magic, radix: 16))"
            case .checksumMismatch(let stored, let crc32c, let crc32):
                "checksum 0x\(String(stored, radix: 16)) matches neither CRC32C 0x\(String(crc32c, radix: 16)) "
                    + "nor CRC32 0x\(String(crc32, radix: 16))"
            case .unsupportedVersion(let version):
                "lock version \(version), this library reads version \(LockRecord.currentVersion)"
            case .hostnameNotTerminated:
                "hostname field has no NUL terminator"
            case .hostnamePaddingNotZero:
                "bytes after the hostname's NUL terminator are not zero"
            }
        }
    }
}
