#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RVFLock

/// A reader process (hidden subcommand): without any lock, as RVF readers do, reads
/// the data file as it grows and checks every complete record's checksum.
struct ReaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reader", shouldDisplay: false)

    @Option var index: Int
    @Option var dir: String
    @Option(help: "CLOCK_MONOTONIC nanoseconds at which to stop") var until: UInt64

    func run() throws {
        let files = TortureFiles(directory: dir)
        var tail = FileTail(path: files.dataFile)
        var pending: [UInt8] = []
        var passes = 0
        var verified = 0
        var damaged = 0
        while true {
            let finished = Syscalls.monotonicNanoseconds() >= until
            pending += tail.readNewBytes()
            passes += 1
            var start = 0
            while pending.count - start >= DataRecord.size {
                let slice = pending[start..<(start + DataRecord.size)]
                if DataRecord(bytes: slice) != nil {
                    verified += 1
                } else {
                    damaged += 1
                    let text = String(decoding: slice, as: UTF8.self)
                    AppendLog(path: files.readerResult(index) + ".damaged").append(
                        "offset \(tail.offset - pending.count + start): \(text)\n")
                }
                start += DataRecord.size
            }
            pending.removeFirst(start)
            if finished { break }
            Syscalls.sleep(nanoseconds: 10_000_000)
        }
        AppendLog(path: files.readerResult(index)).append("\(passes) \(verified) \(damaged)\n")
    }
}
