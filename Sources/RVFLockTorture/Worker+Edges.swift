#if canImport(Glibc)
import Glibc
#endif
import RVFLock

/// What a worker does besides the plain loop: the edges of issue 10 that the
/// torture run keeps exercising (`--faults chdir,closed-stdout,alias-reference`).
struct WorkerEdges: Sendable {
    let files: TortureFiles
    /// Took the lock by a relative path; goes to other directories while holding (issue 10.2).
    var changesDirectory = false
    /// Started with standard output closed; prints to it while holding, as a careless
    /// program would, then checks that the lock file is still its record (issue 10.1).
    var printsCarelessly = false
    /// Self-check: the lock file is put on descriptor 1, as the library's own descriptor
    /// landed there before issue 10.1's fix, so the check must report damage.
    var putsLockFileOnStandardOutput = false
    /// The hostname the alias reference holders write (issue 10.3).
    var referenceAlias: [UInt8]?

    init(files: TortureFiles) { self.files = files }
}

extension Worker {
    // MARK: chdir workers

    /// Goes to another directory while holding: an empty one, one with its own
    /// `data.rvf.lock` (a stale-looking decoy that nothing may touch), or `/`.
    mutating func changeDirectoryAway(_ key: HoldingKey) {
        let targets = [("away", edges.files.awayDirectory), ("decoy", edges.files.decoyDirectory), ("root", "/")]
        let (name, path) = targets[Int(random.next() % UInt64(targets.count))]
        precondition(chdir(path) == 0, "chdir \(path) failed: errno \(errno)")
        log.append("C \(Syscalls.monotonicNanoseconds()) \(key) \(pid) \(name)\n")
    }

    /// Back to the data file's directory; logged when still holding (`key` not nil).
    func changeDirectoryHome(_ key: HoldingKey?) {
        precondition(chdir(edges.files.directory) == 0, "chdir \(edges.files.directory) failed: errno \(errno)")
        if let key { log.append("C \(Syscalls.monotonicNanoseconds()) \(key) \(pid) back\n") }
    }

    // MARK: closed-stdout workers

    /// A progress line on descriptor 1, through stdio and by `write()`, as careless programs do.
    func printProgress(_ key: HoldingKey, sequence: Int) {
        print("progress: \(key) writing record \(sequence) of data.rvf")
        fflush(nil)  // every stdio stream: stdout is a C global Swift 6 will not touch
        let line = Array("progress: \(key) record \(sequence) written\n".utf8)
        _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }

    /// Still holding, after printing: says what descriptor 1 was and whether the lock
    /// file, read afresh by path, is this holder's valid 104-byte record.
    func checkLockFileAfterPrinting(_ key: HoldingKey, writerID: String) {
        let output = describeStandardOutput()
        var verdict = "ok"
        // A read racing the heartbeat's in-place rewrite can see half of each: read again
        // before calling it damaged, as the library's own judge does.
        for attempt in 0..<3 {
            switch ObservedLockFile.read(edges.files.lockFile) {
            case .success(let record):
                verdict = record.pid == UInt32(pid) && record.writerID == writerID ? "ok" : "not-this-holder"
            case .failure(let problem):
                verdict = problem.description
            }
            if verdict == "ok" { break }
            if attempt < 2 { Syscalls.sleep(nanoseconds: 1_000_000) }
        }
        log.append("O \(Syscalls.monotonicNanoseconds()) \(key) \(pid) \(output) \(verdict)\n")
    }

    /// `devnull`, `closed`, `lockfile`, or `other:PATH`.
    private func describeStandardOutput() -> String {
        var output = stat()
        guard fstat(1, &output) == 0 else { return errno == EBADF ? "closed" : "unknown-errno-\(errno)" }
        var null = stat()
        if stat("/dev/null", &null) == 0 && output.st_rdev == null.st_rdev && (output.st_mode & S_IFMT) == S_IFCHR {
            return "devnull"
        }
        var lock = stat()
        if lstat(edges.files.lockFile, &lock) == 0 && lock.st_dev == output.st_dev && lock.st_ino == output.st_ino {
            return "lockfile"
        }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/fd/1", &buffer, buffer.count - 1)
        let path = count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        return "other:" + path.replacingSpaces()
    }

    /// Self-check: finds the descriptor holding the lock file and duplicates it onto 1.
    func putLockFileOnStandardOutput() {
        var lock = stat()
        guard lstat(edges.files.lockFile, &lock) == 0 else { return }
        for descriptor in CInt(3)..<CInt(1024) {
            var info = stat()
            if fstat(descriptor, &info) == 0 && info.st_dev == lock.st_dev && info.st_ino == lock.st_ino {
                _ = dup2(descriptor, 1)
                return
            }
        }
    }

    /// Ends the self-check's duplicate, which would otherwise keep the released file's kernel lock.
    func restoreStandardOutput() {
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        if null >= 0 {
            _ = dup2(null, 1)
            close(null)
        }
    }

    // MARK: alias reference holders

    /// After a busy answer or a timeout: if the lock file names this host by the
    /// reference's alias, logs the refusal and what `status()` says now.
    func noteRefusalByAlias(timedOut: Bool) {
        guard let alias = edges.referenceAlias, case .success(let record) = ObservedLockFile.read(edges.files.lockFile),
            record.hostname == alias
        else { return }
        let status: String
        do throws(LockError) {
            switch try lock.status() {
            case .free: status = "free"
            case .held(let holder): status = holder.hostMatch == .alias ? "held-alias" : "held-\(holder.hostMatch.rawValue)"
            case .stale: status = "stale"
            case .invalid: status = "invalid"
            }
        } catch {
            status = "error-\(error.code)"
        }
        log.append("J \(Syscalls.monotonicNanoseconds()) w\(index) \(pid) \(timedOut ? "timeout" : "busy") \(status)\n")
    }
}

extension String {
    fileprivate func replacingSpaces() -> String { String(map { $0 == " " ? "_" : $0 }) }
}
