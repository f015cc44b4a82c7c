import Glibc
import CRVFLockCommandShims
import RVFLockCommandLine
import RVFLockSpawn
import SystemPackage

/// The etcd lease of `exec --etcd`, held by `rvf-lock-etcd hold` in a process of
/// its own, so that rvf-lock links no networking code: without `--etcd`, nothing
/// of this runs and nothing more is loaded.
///
/// The two talk over a socket pair (the protocol is in rvf-lock-etcd's
/// `HoldCommand`). rvf-lock starts the helper detached (it is not rvf-lock's
/// child, so the wait for every process COMMAND started does not wait for it), and
/// it lives until rvf-lock sends `release` or goes away.
final class EtcdCoordinator {
    /// rvf-lock's end of the socket; the supervision loop polls it for a loss.
    let descriptor: CInt
    /// The fencing token, for COMMAND's `RVF_LOCK_FENCE`.
    let fencingToken: String
    /// The lease's key, for COMMAND's `RVF_LOCK_ETCD_KEY`.
    let key: String
    /// Set once the loss was reported, so that the socket is no longer polled.
    var lossReported = false

    /// The variable in which COMMAND finds the fencing token.
    static let fenceVariable = "RVF_LOCK_FENCE"
    /// The variable that names the cluster when `--etcd` is not given.
    static let endpointsVariable = "RVF_LOCK_ETCD"

    private init(descriptor: CInt, fencingToken: String, key: String) {
        self.descriptor = descriptor
        self.fencingToken = fencingToken
        self.key = key
    }

    /// The endpoints to use: `--etcd`, else `$RVF_LOCK_ETCD`; nil (no etcd) when neither is set.
    static func endpoints(_ option: String?) -> String? {
        if let option { return option }
        guard let value = getenv(endpointsVariable), value.pointee != 0 else { return nil }
        return String(cString: value)
    }

    /// Starts the helper and waits until it holds the lease, or says why it cannot;
    /// `meanwhile` runs once the helper is started, before the wait. When it throws,
    /// there is no wait: the helper sees the socket's end and gives up its place.
    static func acquire(
        endpoints: String, options: ExecOptions, meanwhile: () throws(CommandFailure) -> Void = {}
    ) throws(CommandFailure) -> EtcdCoordinator {
        let helper = try findHelper()
        var ends: [CInt] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw CommandFailure(ExitStatus.software, "cannot create a socket pair for rvf-lock-etcd: \(String(cString: strerror(errno)))")
        }
        let mine = ends[0]
        let theirs = ends[1]
        var arguments = [helper, "hold", "--etcd", endpoints]
        if let seconds = options.waitSeconds { arguments += ["-w", String(seconds)] }
        if options.noWait { arguments.append("-n") }
        if options.quiet { arguments.append("-q") }
        arguments += ["--", options.file]
        do throws(CommandFailure) {
            try spawnDetached(arguments, link: theirs)
            close(theirs)
        } catch {
            close(theirs)
            close(mine)
            throw error
        }

        do throws(CommandFailure) {
            try meanwhile()
        } catch {
            close(mine)
            throw error
        }
        let answer = readLine(from: mine)
        let words = answer.split(separator: " ", maxSplits: 2).map(String.init)
        if words.count == 3, words[0] == "held" {
            return EtcdCoordinator(descriptor: mine, fencingToken: words[1], key: words[2])
        }
        close(mine)
        if words.count == 2, words[0] == "failed", let code = Int32(words[1]) {
            // The helper has said why; a conflict takes -E's code, as for the lock file.
            let exitStatus = code == ExitStatus.temporaryFailure ? options.conflictExitCode : code
            throw CommandFailure(exitStatus, "")
        }
        throw CommandFailure(
            ExitStatus.software,
            "rvf-lock-etcd (\(helper)) ended without taking the lease of \(options.file)"
                + (answer.isEmpty ? "" : " (it said \"\(answer)\")") + "; nothing is held")
    }

    /// Tells the helper to release the lease (after the lock file), and lets go of
    /// the socket; false if the lease was lost before the release (the helper has
    /// said why on standard error).
    @discardableResult
    func release() -> Bool {
        _ = "release\n".withCString { write(descriptor, $0, strlen($0)) }
        var answer = ""
        while true {
            let line = Self.readLine(from: descriptor)
            if line.isEmpty { break }
            answer += line + "\n"
            if line == "released" || line == "lost" { break }
        }
        close(descriptor)
        return !lossReported && answer.contains("released") && !answer.contains("lost")
    }

    /// Tells the helper that COMMAND runs. The helper needs nothing of it but the
    /// line itself: its first read of the socket sets up, once per process, what
    /// every later read uses, and this one comes while COMMAND runs rather than at
    /// `release`, on the handoff's path.
    func tellCommandStarted() {
        _ = "started\n".withCString { write(descriptor, $0, strlen($0)) }
    }

    /// `RVF_LOCK_FENCE` and `RVF_LOCK_ETCD_KEY`, for COMMAND's environment.
    var environmentForCommand: [String] {
        ["\(Self.fenceVariable)=\(fencingToken)", "RVF_LOCK_ETCD_KEY=\(key)"]
    }

    /// What the helper said on the socket since the last look: true when it reports
    /// the lease lost, or has gone away (the socket's end).
    func reportsLoss() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if count == 0 { return true }
        if count < 0 { return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR }
        return String(decoding: buffer.prefix(count), as: UTF8.self).contains("lost")
    }

    /// `status --etcd`: rvf-lock-etcd prints each FILE's lease holder after the lock
    /// files' lines; its exit status (0 free, 1 held, 64 and up errors).
    static func showStatus(endpoints: String, files: [String], json: Bool) -> Int32 {
        let helper: String
        do throws(CommandFailure) { helper = try findHelper() } catch { return error.report() }
        let arguments = [helper, "status", "--etcd", endpoints] + (json ? ["--json"] : []) + ["--"] + files
        let child: Int32
        do throws(Errno) {
            child = try Spawn.Command(helper, arguments: arguments).start()
        } catch {
            return CommandFailure(ExitStatus.unavailable, "cannot start \(helper): \(error)").report()
        }
        let status = Spawn.waitForExit(child)
        // Killed by a signal: the shell's 128 + signal would read as one of the tool's statuses.
        return status > 128 ? ExitStatus.software : status
    }

    // MARK: Starting the helper

    /// rvf-lock-etcd beside this rvf-lock, else on PATH.
    private static func findHelper() throws(CommandFailure) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if length > 0 {
            let me = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let slash = me.lastIndex(of: "/") {
                let beside = String(me[...slash]) + "rvf-lock-etcd"
                if access(beside, X_OK) == 0 { return beside }
            }
        }
        if let path = getenv("PATH") {
            for directory in String(cString: path).split(separator: ":") where !directory.isEmpty {
                let candidate = "\(directory)/rvf-lock-etcd"
                if access(candidate, X_OK) == 0 { return candidate }
            }
        }
        throw CommandFailure(
            ExitStatus.unavailable,
            "--etcd needs rvf-lock-etcd, which is neither beside rvf-lock nor on PATH; build it as rvf-lock is "
                + "built, with `--product rvf-lock-etcd` (Documentation/rvf-lock-etcd.md gives the commands), "
                + "and install it beside rvf-lock")
    }

    /// Starts the helper detached (see `rvf_spawn_detached`): rvf-lock waits for
    /// every process COMMAND starts, as their subreaper, and the helper must not
    /// be among them. It finds its end of the socket as descriptor 3.
    private static func spawnDetached(_ arguments: [String], link: CInt) throws(CommandFailure) {
        let linkNumber: CInt = 3
        var environment: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let setting = String(cString: pointer)
            if !setting.hasPrefix("RVF_LOCK_ETCD_FD=") { environment.append(setting) }
            entry += 1
        }
        environment.append("RVF_LOCK_ETCD_FD=\(linkNumber)")
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        let error = rvf_spawn_detached(arguments[0], argv, envp, link, linkNumber)
        guard error == 0 else {
            throw CommandFailure(ExitStatus.unavailable, "cannot start \(arguments[0]): \(String(cString: strerror(error)))")
        }
    }

    /// One line from the helper (without its newline), or what came before the socket's end.
    private static func readLine(from descriptor: CInt) -> String {
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            // A look, then a read of the bytes up to the line's end (what follows is the next
            // line's): two system calls for the line rather than one per byte.
            let peeked = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_PEEK)) }
            if peeked < 0 && errno == EINTR { continue }
            guard peeked > 0 else { break }
            let wanted = buffer[..<peeked].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? peeked
            let taken = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, wanted) }
            if taken < 0 && errno == EINTR { continue }
            guard taken > 0 else { break }
            if buffer[taken - 1] == UInt8(ascii: "\n") {
                line += buffer[..<(taken - 1)]
                break
            }
            line += buffer[..<taken]
        }
        return String(decoding: line, as: UTF8.self)
    }
}
