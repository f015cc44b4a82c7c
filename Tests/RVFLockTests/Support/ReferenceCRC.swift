/// The two CRC32 variants of lock records, computed bit by bit, independently
/// of the library's table-driven code, to check the library against.
enum ReferenceCRC {
    /// CRC32C (Castagnoli): reflected polynomial 0x82F63B78.
    static func crc32c(_ bytes: some Sequence<UInt8>) -> UInt32 {
        crc(bytes, reflectedPolynomial: 0x82F6_3B78)
    }

    /// IEEE CRC32 (zlib): reflected polynomial 0xEDB88320.
    static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        crc(bytes, reflectedPolynomial: 0xEDB8_8320)
    }

    private static func crc(_ bytes: some Sequence<UInt8>, reflectedPolynomial: UInt32) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ reflectedPolynomial : crc >> 1
            }
        }
        return ~crc
    }
}
