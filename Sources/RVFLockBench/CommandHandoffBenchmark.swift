#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock

/// Item 7b (issue 8's cost): the handoff between two wrapper processes, as a
/// shell user sees it: one `rvf-lock exec FILE -- CMD` holds while four more
/// wait; each CMD stamps its first and last output; the gap is from one
/// command's last stamp to the next command's first. The same with
/// `flock FILE CMD`.
///
/// Five slots keep the queue full: whenever a wrapper exits, its slot starts a
/// new one, which joins the waiters while the next command holds. The command
/// is `rvflock-bench-stamp` (C), so a Swift start-up sits in no gap.
struct CommandHandoffBenchmark {
    let context: BenchContext
    let tools: CommandTools
    static let waiters = 4
    /// Long enough that a restarted wrapper is waiting again before the next release.
    static let holdMicroseconds: UInt64 = 20_000

    private struct Wrapper {
        let name: String
        let slug: String
        let command: String
        let arguments: (_ file: String) -> (executable: String, arguments: [String])
    }

    func run() throws -> [Results.CommandHandoff] {
        let wrappers = [
            Wrapper(name: "rvf-lock exec", slug: "rvf-lock", command: "rvf-lock exec FILE -- CMD") { file in
                (tools.rvfLock, ["exec", file, "--"])
            },
            Wrapper(name: "flock(1)", slug: "flock", command: "flock FILE CMD") { file in
                (tools.flock, [file])
            },
        ]
        let seconds = context.profile.commandHandoffSeconds
        var gaps = [[Double]](repeating: [], count: wrappers.count)
        var commands = [Int](repeating: 0, count: wrappers.count)
        var overlaps = [Int](repeating: 0, count: wrappers.count)
        // Several shorter rounds, alternating which wrapper goes first, rather than
        // one long stretch each: a burst of load from elsewhere lands on both.
        for round in 0..<context.profile.commandHandoffRounds {
            for offset in wrappers.indices {
                let index = (round + offset) % wrappers.count
                let outcome = try runOnce(wrappers[index], round: round, seconds: seconds)
                gaps[index] += outcome.gaps
                commands[index] += outcome.commands
                overlaps[index] += outcome.overlaps
            }
        }
        return wrappers.indices.map { index in
            Results.CommandHandoff(
                name: wrappers[index].name, command: wrappers[index].command, waiters: Self.waiters,
                holdMicroseconds: Self.holdMicroseconds,
                seconds: seconds * Double(context.profile.commandHandoffRounds), commands: commands[index],
                gapNanoseconds: Summary(gaps[index]), overlaps: overlaps[index])
        }
    }

    private func runOnce(
        _ wrapper: Wrapper, round: Int, seconds: Double
    )
        throws -> (gaps: [Double], commands: Int, overlaps: Int)
    {
        let data = try context.dataFile(for: "\(wrapper.slug)-exec-handoff-\(round)")
        let directory = String(data.dropLast("/data.rvf".count))
        let log = directory + "/stamps.log"
        try context.emptyFile(log)
        let (executable, leading) = wrapper.arguments(data)
        let slots = (0...Self.waiters).map { slot in
            PreparedCommand(
                label: "\(wrapper.name) (slot \(slot))", executable: executable,
                arguments: leading + [tools.stamp, log, "\(slot)", "\(Self.holdMicroseconds)"],
                standardError: directory + "/slot-\(slot).stderr")
        }
        let start = Syscalls.monotonicNanoseconds()
        let end = start + UInt64(seconds * 1e9)
        // The first gaps come before every slot's wrapper has started and queued.
        let warmupEnd = start + UInt64(seconds * 0.2e9)
        let giveUp = end + 60_000_000_000
        var running = [pid_t?](repeating: nil, count: slots.count)
        // On a failure, no wrapper outlives the measurement.
        defer {
            for case let pid? in running {
                kill(pid, SIGKILL)
                var status: CInt = 0
                waitpid(pid, &status, 0)
            }
        }
        for index in slots.indices { running[index] = try slots[index].spawn() }
        while running.contains(where: { $0 != nil }) {
            for index in running.indices {
                guard let pid = running[index] else { continue }
                var status: CInt = 0
                let reaped = waitpid(pid, &status, WNOHANG)
                guard reaped == pid else {
                    if reaped == -1 && errno != EINTR {
                        throw BenchFailure("waitpid for \(slots[index].label) failed: errno \(errno)")
                    }
                    continue
                }
                running[index] = nil
                try slots[index].check(status: status)
                if Syscalls.monotonicNanoseconds() < end { running[index] = try slots[index].spawn() }
            }
            guard Syscalls.monotonicNanoseconds() < giveUp else {
                throw BenchFailure("\(wrapper.name): the wrappers were still running 60 s after the end; is the lock stuck?")
            }
            // Polling costs the machine little at this rate, and a restart a millisecond
            // late only joins the queue a millisecond later; the gaps are stamped by the commands.
            Syscalls.sleep(nanoseconds: 1_000_000)
        }
        return try Self.gaps(inLog: log, from: warmupEnd, to: end)
    }

    /// Reads the stamps: each gap from a `-` line to the `+` line after it that
    /// falls in the window; a `+` while another command is inside is an overlap.
    static func gaps(
        inLog path: String, from first: UInt64, to last: UInt64
    )
        throws(BenchFailure) -> (gaps: [Double], commands: Int, overlaps: Int)
    {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BenchFailure("could not read the stamp log \(path)")
        }
        var gaps: [Double] = []
        var commands = 0
        var overlaps = 0
        var inside = 0
        var lastEnd: UInt64?
        for line in text.split(separator: "\n") {
            guard let space = line.firstIndex(of: " "), let stamp = UInt64(line[line.index(after: space)...]) else {
                throw BenchFailure("a malformed line in \(path): \(line)")
            }
            switch line.first {
            case "+":
                commands += 1
                if inside > 0 { overlaps += 1 }
                inside += 1
                if inside == 1, let lastEnd, stamp >= first, stamp < last, stamp >= lastEnd {
                    gaps.append(Double(stamp - lastEnd))
                }
            case "-":
                inside -= 1
                lastEnd = stamp
            default:
                throw BenchFailure("a malformed line in \(path): \(line)")
            }
        }
        return (gaps, commands, overlaps)
    }
}
