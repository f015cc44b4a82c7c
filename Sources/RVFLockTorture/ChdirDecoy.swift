#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import RVFLock

/// The directories chdir workers visit while holding: `away` (empty) and `decoy`,
/// which has a `data.rvf` and a stale-looking `data.rvf.lock` of its own (a dead
/// pid, an hour old). A release, loss check or break that followed the working
/// directory would find, judge or remove the decoy; nothing may change there.
struct ChdirDecoy {
    let files: TortureFiles
    private let lockBytes: [UInt8]
    private let lockIdentity: PlantedIdentity

    init(files: TortureFiles) throws {
        self.files = files
        let manager = FileManager.default
        try manager.createDirectory(atPath: files.awayDirectory, withIntermediateDirectories: false)
        try manager.createDirectory(atPath: files.decoyDirectory, withIntermediateDirectories: false)
        guard manager.createFile(atPath: files.decoyDirectory + "/data.rvf", contents: Data()) else {
            throw ValidationError("cannot create \(files.decoyDirectory)/data.rvf")
        }
        let record = LockRecord(
            pid: PlantKind.deadPID(), hostname: PlantKind.hostname,
            timestampNanoseconds: Syscalls.wallClockNanoseconds() - 3_600_000_000_000,
            writerID: WriterID(high: 0xDEC0_DEC0_DEC0_DEC0, low: UInt64.random(in: 0...UInt64.max)))
        lockBytes = record.encoded()
        try Data(lockBytes).write(to: URL(fileURLWithPath: files.decoyLockFile))
        guard let identity = PlantedIdentity(path: files.decoyLockFile) else {
            throw ValidationError("cannot stat \(files.decoyLockFile)")
        }
        lockIdentity = identity
    }

    /// What changed in the two directories since the run began; empty when nothing did.
    func disturbances() -> [String] {
        var found: [String] = []
        if PlantedIdentity(path: files.decoyLockFile) != lockIdentity {
            found.append("\(files.decoyLockFile) was removed or replaced")
        } else if let bytes = FileManager.default.contents(atPath: files.decoyLockFile), [UInt8](bytes) != lockBytes {
            found.append("\(files.decoyLockFile) was rewritten")
        }
        let manager = FileManager.default
        let away = (try? manager.contentsOfDirectory(atPath: files.awayDirectory)) ?? []
        found += away.map { "\(files.awayDirectory)/\($0) appeared" }
        let decoy = (try? manager.contentsOfDirectory(atPath: files.decoyDirectory)) ?? []
        found += decoy.filter { $0 != "data.rvf" && $0 != "data.rvf.lock" }.map { "\(files.decoyDirectory)/\($0) appeared" }
        return found
    }
}
