/// The 128-bit identity of one acquisition, stored raw at offset 0x50 of the lock record.
///
/// A holder recognises its own lock by this value: release, heartbeat and loss
/// detection all compare it with what the lock file says.
public struct WriterID: Hashable, Sendable, CustomStringConvertible {
    /// Bytes 0..<8 of the identifier, read as a little-endian integer.
    public let high: UInt64
    /// Bytes 8..<16 of the identifier, read as a little-endian integer.
    public let low: UInt64

    /// Creates an identifier from its two little-endian halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates an identifier from exactly 16 raw bytes, as they appear in a lock file.
    ///
    /// - Precondition: `bytes.count == 16`.
    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 16, "a writer id is 16 bytes, got \(bytes.count)")
        let array = Array(bytes)
        high = LittleEndian.uint64(array, at: 0)
        low = LittleEndian.uint64(array, at: 8)
    }

    /// The 16 raw bytes, in the order they are stored in a lock file.
    public var bytes: [UInt8] {
        LittleEndian.bytes(of: high) + LittleEndian.bytes(of: low)
    }

    /// Lowercase hexadecimal, 32 digits, in on-disk byte order.
    public var description: String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 0x10 ? "0" + digits : digits
        }.joined()
    }
}
