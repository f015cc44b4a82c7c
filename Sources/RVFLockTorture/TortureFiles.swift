/// Where a run keeps its files, inside `--dir`.
struct TortureFiles: Sendable {
    let directory: String

    var dataFile: String { directory + "/data.rvf" }
    var lockFile: String { dataFile + ".lock" }
    var eventLog: String { directory + "/events.log" }
    /// Named temporaries the library leaves behind when killed mid-acquisition: `.data.rvf.lock.PID.HEX.tmp`.
    var temporaryPrefix: String { ".data.rvf.lock." }
    /// Where chdir workers go while holding: an empty directory, and one with its own
    /// `data.rvf` and a stale-looking `data.rvf.lock` that nothing may touch.
    var awayDirectory: String { directory + "/away" }
    var decoyDirectory: String { directory + "/decoy" }
    var decoyLockFile: String { decoyDirectory + "/data.rvf.lock" }
    func workerOutput(_ index: Int, _ incarnation: Int) -> String { directory + "/worker-\(index).\(incarnation).out" }
    func readerResult(_ index: Int) -> String { directory + "/reader-\(index).result" }
}
