/// One fixed-size record that a holder appends to the data file: who wrote it,
/// under which acquisition, when, and a checksum over all of that.
///
/// 64 bytes of ASCII: `w=W i=I a=A s=S t=T` padded with spaces to 53 bytes,
/// then `c=` and eight hex digits of the IEEE CRC32 of those 53 bytes, then a newline.
/// Text, so that a person can read the data file of a failed run.
struct DataRecord: Equatable, Sendable {
    static let size = 64
    private static let bodySize = 53

    /// The worker slot that wrote the record.
    var writer: Int
    /// Which incarnation of that slot: a killed worker is respawned with the next one.
    var incarnation: Int
    /// The acquisition number within that incarnation.
    var acquisition: Int
    /// The record's position within the acquisition's writes.
    var sequence: Int
    /// CLOCK_MONOTONIC just before the write, after the holder checked it still held the lock.
    var monotonicNanoseconds: UInt64

    /// The holding this record was written under, as the event log names it.
    var holding: HoldingKey { HoldingKey(writer: writer, incarnation: incarnation, acquisition: acquisition) }

    var bytes: [UInt8] {
        let hex = String(monotonicNanoseconds, radix: 16)
        var body = Array(
            "w=\(writer) i=\(incarnation) a=\(acquisition) s=\(sequence) t=\(String(repeating: "0", count: 16 - hex.count))\(hex)".utf8)
        precondition(body.count <= Self.bodySize, "data record fields too long")
        body += [UInt8](repeating: UInt8(ascii: " "), count: Self.bodySize - body.count)
        let crc = String(CRC32.checksum(body), radix: 16)
        return body + Array("c=\(String(repeating: "0", count: 8 - crc.count))\(crc)\n".utf8)
    }

    /// Decodes one record; nil if it is damaged in any way.
    init?(bytes: ArraySlice<UInt8>) {
        guard bytes.count == Self.size else { return nil }
        let record = Array(bytes)
        let body = Array(record[0..<Self.bodySize])
        guard record[53] == UInt8(ascii: "c"), record[54] == UInt8(ascii: "="), record[63] == UInt8(ascii: "\n"),
            let stored = UInt32(String(decoding: record[55..<63], as: UTF8.self), radix: 16),
            stored == CRC32.checksum(body)
        else { return nil }
        var fields: [String: Substring] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            fields[String(parts[0])] = parts[1]
        }
        guard let writer = fields["w"].flatMap({ Int($0) }), let incarnation = fields["i"].flatMap({ Int($0) }),
            let acquisition = fields["a"].flatMap({ Int($0) }), let sequence = fields["s"].flatMap({ Int($0) }),
            let time = fields["t"].flatMap({ UInt64($0, radix: 16) })
        else { return nil }
        self.init(writer: writer, incarnation: incarnation, acquisition: acquisition, sequence: sequence, monotonicNanoseconds: time)
    }

    init(writer: Int, incarnation: Int, acquisition: Int, sequence: Int, monotonicNanoseconds: UInt64) {
        self.writer = writer
        self.incarnation = incarnation
        self.acquisition = acquisition
        self.sequence = sequence
        self.monotonicNanoseconds = monotonicNanoseconds
    }
}

/// IEEE CRC32, for data records (the library's CRC is internal to it, and the
/// harness should not share code with what it checks anyway).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0xEDB8_8320 : value >> 1 }
        return value
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
