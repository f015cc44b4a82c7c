import Foundation
import RVFLock
import Testing

/// The 104-byte record: reading the reference's files, writing our own, and
/// refusing every malformed form.
@Suite struct LockRecordCodecTests {
    /// One reference-written lock file and what `vectors.json` says it holds.
    struct Vector: Sendable, CustomTestStringConvertible {
        let file: String
        let bytes: [UInt8]
        let pid: UInt32
        let hostnameBytes: [UInt8]
        let hostname: String
        let timestamp: UInt64
        let writerIDHex: String
        let version: UInt32
        let checksum: UInt32
        let isIEEE: Bool

        var testDescription: String { file }
    }

    static let vectors: [Vector] = {
        let json = try! Data(contentsOf: URL(fileURLWithPath: TestResources.fixtures + "/vectors.json"))
        let entries = try! JSONSerialization.jsonObject(with: json) as! [String: [String: Any]]
        return entries.keys.sorted().map { file in
            let entry = entries[file]!
            return Vector(
                file: file,
                bytes: LockFiles.read(TestResources.fixtures + "/" + file)!,
                pid: UInt32(entry["pid"] as! Int),
                hostnameBytes: bytes(fromHex: entry["hostname_bytes_hex"] as! String),
                hostname: entry["hostname_utf8"] as! String,
                timestamp: (entry["timestamp_ns"] as! NSNumber).uint64Value,
                writerIDHex: entry["writer_id_hex"] as! String,
                version: UInt32(entry["lock_version"] as! Int),
                checksum: UInt32((entry["checksum"] as! String).dropFirst(2), radix: 16)!,
                isIEEE: entry["checksum_is_crc32_ieee"] as! Bool)
        }
    }()

    static func bytes(fromHex hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    /// A valid record's bytes with `edit` applied and, unless told otherwise,
    /// the CRC32C recomputed, so that only the edited field is wrong.
    static func edited(fixingChecksum: Bool = true, _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes = LockRecord(
            pid: 4242, hostname: "build-7", timestampNanoseconds: 1_700_000_000_000_000_000,
            writerID: WriterID(high: 1, low: 2)
        ).encoded()
        edit(&bytes)
        if fixingChecksum {
            let crc = ReferenceCRC.crc32c(bytes[0..<0x64])
            bytes.replaceSubrange(0x64..<0x68, with: withUnsafeBytes(of: crc.littleEndian, Array.init))
        }
        return bytes
    }

    static func decodingFailure(_ bytes: [UInt8]) -> LockRecord.DecodingFailure? {
        do throws(LockRecord.DecodingFailure) {
            _ = try LockRecord(decoding: bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func fixturesArePresent() {
        #expect(Self.vectors.count == 3)
        #expect(Self.vectors.allSatisfy { $0.bytes.count == 104 })
    }

    @Test(arguments: vectors)
    func referenceFileDecodesToTheFieldsInVectorsJSON(_ vector: Vector) throws {
        let record = try LockRecord(decoding: vector.bytes)
        #expect(record.pid == vector.pid)
        #expect(record.hostnameBytes == vector.hostnameBytes)
        #expect(record.hostname == vector.hostname)
        #expect(record.timestampNanoseconds == vector.timestamp)
        #expect(record.writerID.description == vector.writerIDHex)
        #expect(record.writerID.bytes == Array(vector.bytes[0x50..<0x60]))
        #expect(record.version == vector.version)
        #expect(record.checksum == .crc32)
        #expect(vector.isIEEE)
        #expect(ReferenceCRC.crc32(vector.bytes[0..<0x64]) == vector.checksum)
    }

    @Test(arguments: vectors)
    func reencodingAReferenceRecordGivesTheSameBytes(_ vector: Vector) throws {
        let record = try LockRecord(decoding: vector.bytes)
        #expect(record.encoded() == vector.bytes)
    }

    @Test func testCRCImplementationsMatchTheStandardCheckValues() {
        let check = Array("123456789".utf8)
        #expect(ReferenceCRC.crc32c(check) == 0xE306_9283)
        #expect(ReferenceCRC.crc32(check) == 0xCBF4_3926)
    }

    @Test(arguments: [LockRecord.Checksum.crc32c, .crc32])
    func encodedChecksumIsTheCRCOfTheFirst100Bytes(_ algorithm: LockRecord.Checksum) throws {
        let record = LockRecord(
            pid: 123_456_789, hostname: "123456789", timestampNanoseconds: 0x0123_4567_89AB_CDEF,
            writerID: WriterID(high: 0x1122_3344_5566_7788, low: 0x99AA_BBCC_DDEE_FF00),
            checksum: algorithm)
        let bytes = record.encoded()
        #expect(bytes.count == 104)
        let stored = UInt32(bytes[0x64]) | UInt32(bytes[0x65]) << 8 | UInt32(bytes[0x66]) << 16 | UInt32(bytes[0x67]) << 24
        let expected = algorithm == .crc32c ? ReferenceCRC.crc32c(bytes[0..<0x64]) : ReferenceCRC.crc32(bytes[0..<0x64])
        #expect(stored == expected)
        let decoded = try LockRecord(decoding: bytes)
        #expect(decoded == record)
        #expect(decoded.checksum == algorithm)
    }

    @Test func newRecordsDefaultToCRC32CAndTheDocumentedLayout() {
        let record = LockRecord(
            pid: 0x0102_0304, hostname: "h", timestampNanoseconds: 0x1112_1314_1516_1718,
            writerID: WriterID(high: 0x2122_2324_2526_2728, low: 0x3132_3334_3536_3738))
        #expect(record.checksum == .crc32c)
        #expect(record.version == 1)
        let bytes = record.encoded()
        #expect(Array(bytes[0..<4]) == Array("FLVR".utf8))
        #expect(Array(bytes[4..<8]) == [0x04, 0x03, 0x02, 0x01])
        #expect(Array(bytes[8..<10]) == [UInt8(ascii: "h"), 0])
        #expect(bytes[10..<0x48].allSatisfy { $0 == 0 })
        #expect(Array(bytes[0x48..<0x50]) == [0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11])
        #expect(
            Array(bytes[0x50..<0x60]) == [
                0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,
                0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31,
            ])
        #expect(Array(bytes[0x60..<0x64]) == [1, 0, 0, 0])
    }

    @Test func longHostnameIsCutTo63BytesAndNULTerminated() throws {
        let record = LockRecord(
            pid: 1, hostname: String(repeating: "a", count: 100), timestampNanoseconds: 1,
            writerID: WriterID(high: 1, low: 1))
        #expect(record.hostnameBytes.count == 63)
        let bytes = record.encoded()
        #expect(bytes[0x08..<0x47].allSatisfy { $0 == UInt8(ascii: "a") })
        #expect(bytes[0x47] == 0)
        #expect(try LockRecord(decoding: bytes).hostnameBytes.count == 63)
    }

    @Test func multiByteHostnameIsCutAtACharacterBoundary() throws {
        // 62 ASCII bytes then "é" (2 bytes) would need 64: the whole "é" goes.
        let hostname = String(repeating: "b", count: 62) + "é"
        let record = LockRecord(pid: 1, hostname: hostname, timestampNanoseconds: 1, writerID: WriterID(high: 1, low: 1))
        #expect(record.hostnameBytes == Array(repeating: UInt8(ascii: "b"), count: 62))
        let bytes = record.encoded()
        #expect(bytes[0x08 + 62] == 0)
        #expect(bytes[0x08 + 63] == 0)
        let decoded = try LockRecord(decoding: bytes)
        #expect(decoded.hostname == String(repeating: "b", count: 62))

        // 61 ASCII bytes then "é" fits exactly in 63.
        let fits = LockRecord(
            pid: 1, hostname: String(repeating: "b", count: 61) + "é", timestampNanoseconds: 1,
            writerID: WriterID(high: 1, low: 1))
        #expect(fits.hostnameBytes.count == 63)
        #expect(fits.encoded()[0x47] == 0)
    }

    @Test(arguments: [0, 103, 105])
    func wrongSizeIsRejected(_ size: Int) {
        let valid = Self.edited { _ in }
        let bytes = size <= 104 ? Array(valid.prefix(size)) : valid + [0]
        #expect(Self.decodingFailure(bytes) == .wrongSize(size))
    }

    @Test func badMagicIsRejected() {
        let bytes = Self.edited { $0[0] = UInt8(ascii: "R") }
        guard case .badMagic = Self.decodingFailure(bytes) else {
            Issue.record("expected badMagic, got \(String(describing: Self.decodingFailure(bytes)))")
            return
        }
    }

    @Test func badChecksumIsRejected() {
        let bytes = Self.edited(fixingChecksum: false) { $0[0x04] ^= 0x01 }
        guard case .checksumMismatch(let stored, let crc32c, let crc32) = Self.decodingFailure(bytes) else {
            Issue.record("expected checksumMismatch, got \(String(describing: Self.decodingFailure(bytes)))")
            return
        }
        #expect(crc32c == ReferenceCRC.crc32c(bytes[0..<0x64]))
        #expect(crc32 == ReferenceCRC.crc32(bytes[0..<0x64]))
        #expect(stored != crc32c && stored != crc32)
    }

    @Test func unsupportedVersionWithACorrectChecksumIsRejected() {
        let bytes = Self.edited { $0[0x60] = 2 }
        #expect(Self.decodingFailure(bytes) == .unsupportedVersion(2))
    }

    @Test func hostnameWithoutNULTerminatorIsRejected() {
        let bytes = Self.edited { bytes in
            for index in 0x08..<0x48 { bytes[index] = UInt8(ascii: "x") }
        }
        #expect(Self.decodingFailure(bytes) == .hostnameNotTerminated)
    }

    @Test func nonZeroHostnamePaddingIsRejected() {
        let bytes = Self.edited { $0[0x47] = UInt8(ascii: "z") }
        #expect(Self.decodingFailure(bytes) == .hostnamePaddingNotZero)
    }

    @Test func ieeeChecksumIsAcceptedOnRead() throws {
        let bytes = Self.edited(fixingChecksum: false) { bytes in
            let crc = ReferenceCRC.crc32(bytes[0..<0x64])
            bytes.replaceSubrange(0x64..<0x68, with: withUnsafeBytes(of: crc.littleEndian, Array.init))
        }
        let record = try LockRecord(decoding: bytes)
        #expect(record.checksum == .crc32)
        #expect(record.pid == 4242)
        #expect(record.encoded() == bytes)
    }

    @Test func writerIDRoundTripsThroughBytesAndHex() {
        let id = WriterID(bytes: Array(0..<16))
        #expect(id.bytes == Array(0..<16))
        #expect(id.description == "000102030405060708090a0b0c0d0e0f")
        #expect(WriterID(high: id.high, low: id.low) == id)
    }
}
