#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RVFLock
import SystemPackage

/// A breaker process (hidden subcommand), run as another user in the shared
/// directory: it never takes the lock, and calls `breakLock()` again and again,
/// so that it races the workers' releases, kills and planted files, and the
/// reference holders' replacements (issue 14, item 1). It may remove only
/// stale or old invalid locks: a live one it removed would show in the log as
/// an overlap or a lost lock.
struct BreakerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "breaker", shouldDisplay: false)

    @Option var dir: String
    @Option(help: "CLOCK_MONOTONIC nanoseconds at which to stop") var until: UInt64
    @Option var seed: UInt64
    @Option var staleMs: Int
    @Option var otherMs: Int

    func run() throws {
        var options = LockOptions()
        options.sameHostStaleAfter = .milliseconds(staleMs)
        options.otherHostStaleAfter = .milliseconds(otherMs)
        let lock = WriterLock(dataFile: FilePath(TortureFiles(directory: dir).dataFile), options: options)
        var random = SeededGenerator(seed: seed)
        var broke = 0
        var refused = 0
        var displaced = 0
        var failed = 0
        while Syscalls.monotonicNanoseconds() < until {
            do throws(LockError) {
                if try lock.breakLock() != nil { broke += 1 }
            } catch  where error.code == .notStale || error.code == .notARegularFile {
                refused += 1
            } catch  where error.code == .busy && error.description.contains("displaced") {
                displaced += 1
                print("displaced: \(error)")
            } catch {
                failed += 1
                if failed <= 5 { print("error: \(error)") }
            }
            Syscalls.sleep(nanoseconds: 2_000_000 + random.next() % 20_000_000)
        }
        print("breaker uid \(getuid()): broke \(broke) refused \(refused) displaced \(displaced) failed \(failed)")
    }
}
