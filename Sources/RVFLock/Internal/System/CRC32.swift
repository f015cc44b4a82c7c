/// Table-driven reflected CRC-32 for the two polynomials a lock record may carry.
///
/// RVFLock writes CRC32C, as the format document asks; the reference writes the
/// IEEE CRC32 that zlib computes. Both are accepted on read.
struct CRC32: Sendable {
    private let table: [UInt32]

    /// CRC32C (Castagnoli), reflected polynomial 0x82F63B78; check value 0xE3069283.
    static let castagnoli = CRC32(reflectedPolynomial: 0x82F6_3B78)
    /// CRC32 (IEEE 802.3, zlib), reflected polynomial 0xEDB88320; check value 0xCBF43926.
    static let ieee = CRC32(reflectedPolynomial: 0xEDB8_8320)

    private init(reflectedPolynomial: UInt32) {
        table = (0..<256).map { index in
            var value = UInt32(index)
            for _ in 0..<8 {
                value = value & 1 == 1 ? (value >> 1) ^ reflectedPolynomial : value >> 1
            }
            return value
        }
    }

    func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return ~crc
    }
}
