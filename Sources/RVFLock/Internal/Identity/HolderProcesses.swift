import Glibc
import SystemPackage

/// Who, on this machine, is behind a lock: the holder's program name, and the
/// processes that keep its kernel lock when the record's own process does not.
///
/// For messages only (`status`, errors, waiting lines): a few reads of `/proc`,
/// never on the path of a waiter or a holder. Names are given only for a process
/// that is verifiably the holder, so that a message never calls a process that
/// merely got the holder's PID later the holder.
enum HolderProcesses {
    /// `holder` with its program name, and, where its kernel lock is held by
    /// processes other than the record's, those processes.
    static func describe(_ holder: LockHolder, lockFile: FileIdentity, identity: HostIdentity) -> LockHolder {
        guard holder.hostMatch != .otherHost, ProcessIdentity.procShowsThisNamespace else { return holder }
        let pid = holder.pid
        let validPID = pid > 0 && pid <= UInt32(Int32.max)
        switch holder.liveness {
        case .writerProcessExists, .processExists:
            return holder.describing(program: validPID ? program(of: Int32(pid)) : nil)
        case .kernelLockHeld, .kernelLockHeldAfterWriterExited:
            // The writer itself, named by its writer tag (one read of /proc), or found
            // holding the file open (a look at each of its descriptors).
            if validPID, isWriter(holder, identity: identity) || holdsOpen(pid: Int32(pid), file: lockFile) {
                return holder.describing(program: program(of: Int32(pid)))
            }
            // The record's process does not hold the file: it has exited (its children
            // keep the lock), or it lives in another PID namespace, where its PID means
            // another process here.
            let holders = kernelLockHolders(of: lockFile)
            let exited = validPID && (try? Syscalls.probeProcess(Int32(pid))) == .noSuchProcess
            return holder.describing(
                program: nil, kernelLockHolders: holders,
                liveness: exited && !holders.isEmpty ? .kernelLockHeldAfterWriterExited : nil)
        default:
            return holder
        }
    }

    /// Whether the process with the record's PID wrote it, by its writer tag.
    private static func isWriter(_ holder: LockHolder, identity: HostIdentity) -> Bool {
        guard holder.record.checksum == .crc32c, let start = ProcessIdentity.startTicks(of: Int32(holder.pid)) else { return false }
        return identity.isWrittenBy(holder.writerID, pid: holder.pid, startTicks: start)
    }

    /// `/proc/PID/comm`.
    static func program(of pid: Int32) -> String? {
        guard let bytes = Syscalls.readProcFile("/proc/\(pid)/comm", limit: 64) else { return nil }
        let name = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        return name.isEmpty ? nil : name
    }

    /// Whether process `pid` has `file` open.
    private static func holdsOpen(pid: Int32, file: FileIdentity) -> Bool {
        !openings(of: file, by: pid).isEmpty
    }

    /// The descriptors of process `pid` open on `file`.
    private static func openings(of file: FileIdentity, by pid: Int32) -> [String] {
        let directory = "/proc/\(pid)/fd"
        guard let descriptor = try? Syscalls.openDirectoryAnchor(FilePath(directory)) else { return [] }
        defer { Syscalls.close(descriptor) }
        var found: [String] = []
        for name in Syscalls.directoryEntries(descriptor).prefix(4096) {
            if let info = try? Syscalls.statAt(descriptor, name), FileIdentity(info) == file {
                found.append(name)
            }
        }
        return found
    }

    /// The processes (at most a few) that hold an exclusive `flock()` on `file`,
    /// through an open file they share: those with a descriptor on it whose
    /// `/proc/PID/fdinfo` shows the lock.
    static func kernelLockHolders(of file: FileIdentity, limit: Int = 4) -> [HolderProcess] {
        guard let proc = try? Syscalls.openDirectoryAnchor(FilePath("/proc")) else { return [] }
        defer { Syscalls.close(proc) }
        var holders: [HolderProcess] = []
        for name in Syscalls.directoryEntries(proc) {
            guard let pid = Int32(name), pid > 0 else { continue }
            let holds = openings(of: file, by: pid).contains { descriptor in
                guard let info = Syscalls.readProcFile("/proc/\(pid)/fdinfo/\(descriptor)", limit: 4096) else { return false }
                return String(decoding: info, as: UTF8.self).split(separator: "\n").contains { line in
                    line.hasPrefix("lock:") && line.contains("FLOCK") && line.contains("WRITE")
                }
            }
            if holds {
                holders.append(HolderProcess(pid: pid, program: program(of: pid)))
                if holders.count == limit { break }
            }
        }
        return holders
    }
}
