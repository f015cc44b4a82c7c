import ArgumentParser
import RVFLock
import RVFLockCommandLine

/// `rvf-lock break`: remove a stale or invalid lock.
struct BreakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "break",
        abstract: "Remove the lock of FILE if it is stale or invalid; with --force, even if held.",
        discussion: """
            Follows exactly the rules a writer follows before taking over a lock: \
            a stale lock (its holder gone) or an old invalid lock file is removed, \
            under the lock file's own kernel lock and only if it is still the file \
            judged, so a newer lock taken meanwhile is never removed. A live lock is \
            refused, with its holder's details. --force removes a live lock anyway \
            and says whose it was: use it only when you know that writer is gone \
            (for example, on another host that crashed less than 300 s ago).

            Prints what was removed, or that there was no lock, on standard error.

            Exit status: 0 when the lock was removed or there was none; 1 when it \
            is held (or an invalid file too young to judge) and --force was not \
            given; 64 usage; 66 bad FILE or lock path; 69 no file locks on its file \
            system; 70 an unexpected system error; 73 the lock file cannot be \
            removed (read-only file system) or its name is too long; 75 the lock \
            file kept changing while it was judged, try again; 77 no permission to \
            remove it.

            Examples:
              rvf-lock break data.rvf
              rvf-lock break --force data.rvf
            """
    )

    @Flag(help: "Remove the lock even if its holder looks alive.")
    var force = false

    @OptionGroup var dataFile: DataFileArgument

    func run() throws {
        let target = try dataFile.target(for: "break")
        let lockFile = target.lock.lockFile
        let removed: LockStatus?
        do throws(LockError) {
            removed = try target.lock.breakLock(force: force)
        } catch {
            throw CommandFailure(error).reported()
        }
        switch removed {
        case nil:
            StandardError.line("there is no lock: \(lockFile) does not exist")
        case .held(let holder)?:
            StandardError.line(
                "broke the live lock \(lockFile) of pid \(holder.pid) on \(holder.hostname) "
                    + "(writer \(holder.writerID), \(holder.age.components.seconds) s old); "
                    + "if that writer is still running, it no longer has the lock")
        case let status?:
            StandardError.line("removed \(lockFile): it was \(status)")
        }
    }
}
