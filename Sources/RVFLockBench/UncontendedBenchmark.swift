#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import SystemPackage

/// Item 1: one process, nobody else near the lock: ns per acquire + release.
///
/// The variants run interleaved, in a rotating order, run after run, so that
/// load from other users of the machine falls on all of them alike.
struct UncontendedBenchmark {
    let context: BenchContext

    /// Operations each variant runs before the next variant's turn.
    static let blockSize = 10
    /// Row names the goals and the report look up.
    static let rvflockRow = "RVFLock"
    static let linkFloorRow = "floor: temp+fsync+link"
    static let referenceRow = "reference (locking.rs)"
    static let bareSystemCallsRow = "floor: O_TMPFILE+flock+linkat, no fsync"
    static let libraryCallsRow = "floor: all of RVFLock's system calls, no fsync"

    private struct Variant {
        let name: String
        let what: String
        /// Runs `count` operations, returning each one's duration in ns.
        let measure: (_ count: Int) throws -> [Double]
    }

    func run() throws -> Results.Uncontended {
        let data = try context.dataFile(for: "uncontended")
        let directory = String(data.dropLast("/data.rvf".count))
        let record = [UInt8](repeating: 0x5A, count: 104)
        var always = LockOptions()
        always.syncPolicy = .always
        var variants: [Variant] = [
            Variant(name: Self.rvflockRow, what: "tryAcquire() + release(), default options") { count in
                let lock = WriterLock(dataFile: FilePath(data))
                return try timed(count) {
                    let handle = try lock.tryAcquire()
                    try handle.release()
                }
            },
            Variant(name: "RVFLock, syncPolicy .always", what: "the same, syncing the lock file whatever the file system") { count in
                let lock = WriterLock(dataFile: FilePath(directory + "/always.rvf"), options: always)
                return try timed(count) {
                    let handle = try lock.tryAcquire()
                    try handle.release()
                }
            },
            Variant(
                name: Self.linkFloorRow,
                what: "open temp O_EXCL, write 104 B, fsync, link to lock, unlink temp, close, unlink lock"
            ) { count in
                let temporary = directory + "/.floor.rvf.lock.tmp"
                let lockPath = directory + "/floor.rvf.lock"
                return try timed(count) {
                    let descriptor = try BareSystemCalls.check(open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644), "open")
                    try BareSystemCalls.check(CInt(record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 104, 0) }), "pwrite")
                    try BareSystemCalls.check(fsync(descriptor), "fsync")
                    try BareSystemCalls.check(link(temporary, lockPath), "link")
                    try BareSystemCalls.check(unlink(temporary), "unlink temp")
                    close(descriptor)
                    try BareSystemCalls.check(unlink(lockPath), "unlink lock")
                }
            },
            Variant(
                name: "floor: O_TMPFILE+flock+fsync+linkat",
                what: "RVFLock's own system calls without the library: O_TMPFILE, flock, write, fsync, linkat; lstat, unlink, close"
            ) { count in
                let lockPath = directory + "/tmpfile.rvf.lock"
                return try timed(count) {
                    let descriptor = try BareSystemCalls.check(
                        open(directory, BareSystemCalls.openTemporaryFile | O_RDWR | O_CLOEXEC, 0o644), "open O_TMPFILE")
                    try BareSystemCalls.check(flock(descriptor, LOCK_EX | LOCK_NB), "flock")
                    try BareSystemCalls.check(CInt(record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 104, 0) }), "pwrite")
                    try BareSystemCalls.check(fsync(descriptor), "fsync")
                    try BareSystemCalls.check(
                        linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, lockPath, AT_SYMLINK_FOLLOW), "linkat")
                    var info = stat()
                    try BareSystemCalls.check(lstat(lockPath, &info), "lstat")
                    try BareSystemCalls.check(unlink(lockPath), "unlink lock")
                    close(descriptor)
                }
            },
            Variant(
                name: Self.bareSystemCallsRow,
                what: "the same system calls without fsync: what a lock file costs where no sync is needed"
            ) { count in
                let lockPath = directory + "/nosync.rvf.lock"
                return try timed(count) {
                    let descriptor = try BareSystemCalls.check(
                        open(directory, BareSystemCalls.openTemporaryFile | O_RDWR | O_CLOEXEC, 0o644), "open O_TMPFILE")
                    try BareSystemCalls.check(flock(descriptor, LOCK_EX | LOCK_NB), "flock")
                    try BareSystemCalls.check(CInt(record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 104, 0) }), "pwrite")
                    try BareSystemCalls.check(
                        linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, lockPath, AT_SYMLINK_FOLLOW), "linkat")
                    var info = stat()
                    try BareSystemCalls.check(lstat(lockPath, &info), "lstat")
                    try BareSystemCalls.check(unlink(lockPath), "unlink lock")
                    close(descriptor)
                }
            },
            Variant(
                name: Self.libraryCallsRow,
                what: "every system call tryAcquire() + release() makes where no sync is needed, without the library: "
                    + "open the directory (O_PATH), lstat the data file, fstat the directory (the library: statx), "
                    + "O_TMPFILE, flock, write, fstat, linkat; lstat, unlink, close both"
            ) { count in
                return try timed(count) {
                    let anchor = try BareSystemCalls.check(
                        open(directory, BareSystemCalls.openPath | O_DIRECTORY | O_CLOEXEC), "open directory")
                    var info = stat()
                    _ = fstatat(anchor, "calls.rvf", &info, AT_SYMLINK_NOFOLLOW)
                    try BareSystemCalls.check(fstatat(anchor, "", &info, BareSystemCalls.emptyPath), "fstat directory")
                    let descriptor = try BareSystemCalls.check(
                        openat(anchor, ".", BareSystemCalls.openTemporaryFile | O_RDWR | O_CLOEXEC, 0o644), "open O_TMPFILE")
                    try BareSystemCalls.check(flock(descriptor, LOCK_EX | LOCK_NB), "flock")
                    try BareSystemCalls.check(CInt(record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 104, 0) }), "pwrite")
                    try BareSystemCalls.check(fstat(descriptor, &info), "fstat")
                    // As the library: by descriptor where the process may (CAP_DAC_READ_SEARCH), else through /proc.
                    if linkat(descriptor, "", anchor, "calls.rvf.lock", BareSystemCalls.emptyPath) != 0 {
                        try BareSystemCalls.check(
                            linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", anchor, "calls.rvf.lock", AT_SYMLINK_FOLLOW), "linkat")
                    }
                    try BareSystemCalls.check(fstatat(anchor, "calls.rvf.lock", &info, AT_SYMLINK_NOFOLLOW), "lstat")
                    try BareSystemCalls.check(unlinkat(anchor, "calls.rvf.lock", 0), "unlink lock")
                    close(descriptor)
                    close(anchor)
                }
            },
            Variant(name: "floor: flock", what: "flock(LOCK_EX) + flock(LOCK_UN) on an open descriptor") { count in
                let descriptor = try BareSystemCalls.check(open(directory + "/flock.rvf.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644), "open")
                defer { close(descriptor) }
                return try timed(count) {
                    try BareSystemCalls.check(flock(descriptor, LOCK_EX), "flock")
                    try BareSystemCalls.check(flock(descriptor, LOCK_UN), "flock unlock")
                }
            },
        ]
        // One reference process serves every block, so it stays as warm as the in-process variants.
        let server = try context.reference.map { _ throws(BenchFailure) in
            try context.referenceWorker(["serve", directory + "/reference.rvf"], label: "reference uncontended")
        }
        if let server {
            variants.append(
                Variant(
                    name: Self.referenceRow,
                    what: "WriterLock::acquire + release, rustc -O, in a process of its own"
                ) { count in
                    try server.send("\(count)")
                    let line = try server.expectLine()
                    guard line.hasPrefix("samples") else { throw BenchFailure("the reference harness said: \(line)") }
                    return line.split(separator: " ").dropFirst().compactMap { Double($0) }
                })
        }

        let runs = context.profile.uncontendedRuns
        let operations = context.profile.uncontendedOperations
        let block = Self.blockSize
        for variant in variants { _ = try variant.measure(context.profile.uncontendedWarmup) }
        var perRun = [[Double]](repeating: [], count: variants.count)
        var all = [[Double]](repeating: [], count: variants.count)
        for run in 0..<runs {
            var samples = [[Double]](repeating: [], count: variants.count)
            // Small blocks in a rotating order: a burst of I/O from other users of
            // the machine lands on every variant of the run, not on one.
            for turn in 0..<(operations + block - 1) / block {
                for offset in 0..<variants.count {
                    let index = (run + turn + offset) % variants.count
                    samples[index] += try variants[index].measure(min(block, operations - turn * block))
                }
            }
            for index in variants.indices {
                perRun[index].append(samples[index].reduce(0, +) / Double(samples[index].count))
                all[index] += samples[index]
            }
            progress("  uncontended run \(run + 1)/\(runs) done")
        }
        _ = try server?.finish()
        func median(of name: String) -> Double? {
            variants.firstIndex { $0.name == name }.map { Summary(perRun[$0]).median }
        }
        let floorMedian = median(of: Self.linkFloorRow)
        let referenceMedian = median(of: Self.referenceRow)
        let rows = variants.indices.map { index in
            let median = Summary(perRun[index]).median
            return Results.Uncontended.Row(
                name: variants[index].name, what: variants[index].what,
                runNanosecondsPerOperation: perRun[index], medianNanosecondsPerOperation: median,
                perOperation: Summary(all[index]), ratioToLinkFloor: floorMedian.map { median / $0 },
                ratioToReference: referenceMedian.map { median / $0 })
        }
        return Results.Uncontended(runs: runs, operationsPerRun: operations, rows: rows)
    }
}

/// Runs `operation` `count` times, timing each run.
private func timed(_ count: Int, _ operation: () throws -> Void) throws -> [Double] {
    var samples: [Double] = []
    samples.reserveCapacity(count)
    for _ in 0..<count {
        let start = Syscalls.monotonicNanoseconds()
        try operation()
        samples.append(Double(Syscalls.monotonicNanoseconds() - start))
    }
    return samples
}
