import CFuzzerDriver
#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import SystemPackage

// libFuzzer entry points. What is checked on every input:
// - `LockRecord(decoding:)` never traps, and whatever it accepts encodes back to the same bytes
//   and decodes again to the same record;
// - on every fourth input, the bytes are also written as a lock file and judged with
//   `status()` and `breakLock()`: no crash, the verdict agrees with the decoder, a file whose
//   kernel lock someone holds is never broken, and a file judged held is never broken unless the
//   time or the process that decided the verdict changed in between;
// - a "repaired" record built from the input's fields (valid magic, version and checksum, so that
//   the staleness rules, not the decoder, decide) goes through the same judgement.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let decoded = checkDecoding(bytes)
    FuzzWorkspace.shared.inputs += 1
    if FuzzWorkspace.shared.inputs % 4 == 0 || bytes.count == LockRecord.size {
        let holdKernelLock = bytes.last.map { $0 & 0x80 != 0 } ?? false
        FuzzWorkspace.shared.judge(bytes, decodesAsValid: decoded != nil, holdKernelLock: holdKernelLock)
        if let repaired = FuzzWorkspace.shared.repairedRecord(from: bytes) {
            FuzzWorkspace.shared.judge(repaired, decodesAsValid: true, holdKernelLock: holdKernelLock)
        }
    }
    return 0
}

/// SwiftPM renames an executable's `main` to `<module>_main` and links `main` to it, which
/// leaves libFuzzer's own `main` out; this one runs libFuzzer's driver instead.
@_cdecl("rvflock_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}

/// Decodes; if the bytes are accepted, they must be exactly what the record encodes to.
func checkDecoding(_ bytes: [UInt8]) -> LockRecord? {
    let record: LockRecord
    do {
        record = try LockRecord(decoding: bytes)
    } catch {
        // Every failure must be describable without trapping.
        _ = error.description
        precondition(bytes.count != LockRecord.size || error != .wrongSize(bytes.count), "104 bytes reported as the wrong size")
        return nil
    }
    let encoded = record.encoded()
    precondition(encoded == bytes, "decoded record re-encodes differently:\n\(bytes)\n\(encoded)")
    precondition((try? LockRecord(decoding: encoded)) == record, "re-encoded record decodes differently")
    _ = record.hostname
    _ = record.writerID.description
    return record
}
