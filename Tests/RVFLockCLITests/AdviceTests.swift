import Foundation
import RVFLock
import RVFLockTestSupport
import Testing

/// Writes the fresh lock of a writer on another host: nobody here can judge it gone for 300 s.
func writeOtherHostLock(for dataFile: String) throws {
    let now = UInt64(Date().timeIntervalSince1970 * 1e9)
    let record = LockRecord(
        pid: 4242, hostname: "elsewhere", timestampNanoseconds: now,
        writerID: WriterID(high: 0x0123_4567_89AB_CDEF, low: 0x1111_2222_3333_4444))
    try Data(record.encoded()).write(to: URL(fileURLWithPath: dataFile + ".lock"))
}

extension CLITests {
    /// What `rvf-lock` advises when the lock cannot be had or broken: fitted to what is
    /// known of the holder, and in the tool's words, never the library's.
    @Suite struct Advice {
        @Test func aLiveHolderOnThisMachineIsNeverSuggestedForBreaking() async throws {
            try await withSandbox { dir in
                let holder = try ChildProcess.rvfLock(
                    ["exec", "-q", "\(dir)/data.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"],
                    outputIn: dir, name: "holder")
                _ = try await waitForLine(in: "\(dir)/pid")

                let busy = try await rvfLock(["exec", "-n", "\(dir)/data.rvf", "--", "true"])
                #expect(busy.status == 75)
                #expect(busy.standardError.contains("alive"), "\(busy.standardError)")
                #expect(!busy.standardError.contains("break"), "\(busy.standardError)")

                let timedOut = try await rvfLock(["wait", "-w", "0.2", "\(dir)/data.rvf"])
                #expect(timedOut.status == 75)
                #expect(!timedOut.standardError.contains("break"), "\(timedOut.standardError)")

                let refused = try await rvfLock(["break", "\(dir)/data.rvf"])
                #expect(refused.status == 1)
                #expect(!refused.standardError.contains("force"), "\(refused.standardError)")
                #expect(!refused.standardError.contains("breakLock"), "\(refused.standardError)")

                holder.send(SIGTERM)
                _ = await holder.waitForExit()
            }
        }

        @Test func aHolderOnAnotherHostMayBeForcedInTheToolsWords() async throws {
            try await withSandbox { dir in
                try writeOtherHostLock(for: "\(dir)/data.rvf")
                let force = "`rvf-lock break --force \(dir)/data.rvf`"

                let busy = try await rvfLock(["exec", "-n", "\(dir)/data.rvf", "--", "true"])
                #expect(busy.status == 75)
                #expect(busy.standardError.contains(force), "\(busy.standardError)")

                let timedOut = try await rvfLock(["exec", "-w", "0.2", "\(dir)/data.rvf", "--", "true"])
                #expect(timedOut.status == 75)
                #expect(timedOut.standardError.contains(force), "\(timedOut.standardError)")
                #expect(timedOut.standardError.contains("300 s"), "\(timedOut.standardError)")

                let refused = try await rvfLock(["break", "\(dir)/data.rvf"])
                #expect(refused.status == 1)
                #expect(refused.standardError.contains(force), "\(refused.standardError)")
                for result in [busy, timedOut, refused] {
                    #expect(!result.standardError.contains("breakLock"), "\(result.standardError)")
                }
                #expect(FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
            }
        }

        @Test func aYoungInvalidLockFileMayBeForcedInTheToolsWords() async throws {
            try await withSandbox { dir in
                try writeInvalidLock(for: "\(dir)/data.rvf", age: 0)
                let refused = try await rvfLock(["break", "\(dir)/data.rvf"])
                #expect(refused.status == 1)
                #expect(refused.standardError.contains("`rvf-lock break --force \(dir)/data.rvf`"), "\(refused.standardError)")
                #expect(!refused.standardError.contains("breakLock"), "\(refused.standardError)")
            }
        }
    }
}
