#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
import RVFLockTestSupport
import Testing

/// Writes a valid lock record of a dead process on this host, an hour old: stale by the reference rules.
func writeStaleLock(for dataFile: String, deadPID: pid_t) throws -> LockRecord {
    let hourAgo = UInt64(Date().timeIntervalSince1970 * 1e9) - 3_600_000_000_000
    let record = LockRecord(
        pid: UInt32(deadPID), hostname: thisHostname, timestampNanoseconds: hourAgo,
        writerID: WriterID(high: 0x0123_4567_89AB_CDEF, low: 0x0FED_CBA9_8765_4321))
    try Data(record.encoded()).write(to: URL(fileURLWithPath: dataFile + ".lock"))
    return record
}

/// Writes bytes that are no lock record, last modified `age` ago.
func writeInvalidLock(for dataFile: String, age: TimeInterval) throws {
    let path = dataFile + ".lock"
    try Data("not a lock record\n".utf8).write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -age)], ofItemAtPath: path)
}

extension CLITests {
    /// `rvf-lock status`, text and JSON.
    @Suite struct Status {
        @Test func aFreeLockIsReportedWithNullsAndExitZero() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["status", "--json", "\(dir)/data.rvf"])
                #expect(result.status == 0)
                let object = try #require(try jsonObjects(result.standardOutput).first)
                #expect(Set(object.keys) == Set(statusJSONFields))
                #expect(object["file"] as? String == "\(dir)/data.rvf")
                #expect(object["lock"] as? String == "\(dir)/data.rvf.lock")
                #expect(object["state"] as? String == "free")
                for field in statusJSONFields.dropFirst(3) {
                    #expect(object[field] is NSNull, "\(field) should be null for a free lock")
                }
                // Nulls are written, not omitted, in the documented order.
                #expect(result.standardOutput.contains("\"pid\":null,\"hostname\":null"))
            }
        }

        @Test func aHeldLockIsReportedFieldByField() async throws {
            try await withSandbox { dir in
                let holder = try ChildProcess.rvfLock(
                    ["exec", "-q", "\(dir)/data.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"],
                    outputIn: dir, name: "holder")
                _ = try await waitForLine(in: "\(dir)/pid")
                // The record names rvf-lock's keeper, which lives as long as the command's processes.
                let keeper = try holder.keeperPID()
                let now = UInt64(Date().timeIntervalSince1970 * 1e9)

                let result = try await rvfLock(["status", "--json", "\(dir)/data.rvf"])
                #expect(result.status == 1)
                let object = try #require(try jsonObjects(result.standardOutput).first)
                #expect(Set(object.keys) == Set(statusJSONFields))
                #expect(object["state"] as? String == "held")
                #expect((object["pid"] as? NSNumber)?.int32Value == keeper)
                #expect(object["hostname"] as? String == thisHostname)
                let timestamp = try #require((object["timestamp_ns"] as? NSNumber)?.uint64Value)
                #expect(timestamp <= now + 1_000_000_000 && timestamp + 60_000_000_000 >= now)
                let age = try #require(object["age_seconds"] as? Double)
                #expect(age >= 0 && age < 60)
                let writerID = try #require(object["writer_id"] as? String)
                #expect(writerID.count == 32 && writerID.allSatisfy(\.isHexDigit))
                #expect(object["same_host"] as? Bool == true)
                #expect(object["pid_alive"] as? Bool == true)
                #expect(object["reason"] is NSNull)

                let text = try await rvfLock(["status", "\(dir)/data.rvf"])
                #expect(text.status == 1)
                // The holder is this machine's `rvf-lock exec`, so its program is named.
                #expect(text.standardOutput.hasPrefix("\(dir)/data.rvf.lock: held by pid \(keeper) (rvf-lock) on "))
                #expect(text.standardOutput.contains(writerID))

                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }

        @Test func aStaleLockIsReportedWithItsReason() async throws {
            try await withSandbox { dir in
                let deadPID = try await pidOfExitedProcess(in: dir)
                let record = try writeStaleLock(for: "\(dir)/data.rvf", deadPID: deadPID)

                let result = try await rvfLock(["status", "--json", "\(dir)/data.rvf"])
                #expect(result.status == 2)
                let object = try #require(try jsonObjects(result.standardOutput).first)
                #expect(Set(object.keys) == Set(statusJSONFields))
                #expect(object["state"] as? String == "stale")
                #expect((object["pid"] as? NSNumber)?.int32Value == deadPID)
                #expect(object["hostname"] as? String == thisHostname)
                #expect((object["timestamp_ns"] as? NSNumber)?.uint64Value == record.timestampNanoseconds)
                #expect(try #require(object["age_seconds"] as? Double) >= 3599)
                #expect(object["writer_id"] as? String == record.writerID.description)
                #expect(object["same_host"] as? Bool == true)
                #expect(object["pid_alive"] as? Bool == false)
                #expect((object["reason"] as? String)?.contains("gone") == true)
            }
        }

        @Test func anInvalidLockIsReportedWithItsReason() async throws {
            try await withSandbox { dir in
                try writeInvalidLock(for: "\(dir)/data.rvf", age: 3600)

                let result = try await rvfLock(["status", "--json", "\(dir)/data.rvf"])
                #expect(result.status == 2)
                let object = try #require(try jsonObjects(result.standardOutput).first)
                #expect(Set(object.keys) == Set(statusJSONFields))
                #expect(object["state"] as? String == "invalid")
                for field in ["pid", "hostname", "timestamp_ns", "writer_id", "same_host", "pid_alive"] {
                    #expect(object[field] is NSNull, "\(field) should be null for an invalid lock")
                }
                #expect(try #require(object["age_seconds"] as? Double) >= 3599)
                #expect((object["reason"] as? String)?.contains("18 bytes") == true)
            }
        }

        @Test func theWorstStateOfSeveralFilesDecidesTheExitStatus() async throws {
            try await withSandbox { dir in
                let holder = try ChildProcess.rvfLock(
                    ["exec", "-q", "\(dir)/held.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"],
                    outputIn: dir, name: "holder")
                _ = try await waitForLine(in: "\(dir)/pid")
                try writeInvalidLock(for: "\(dir)/invalid.rvf", age: 3600)

                #expect(try await rvfLock(["status", "\(dir)/free.rvf", "\(dir)/other.rvf"]).status == 0)
                #expect(try await rvfLock(["status", "\(dir)/free.rvf", "\(dir)/held.rvf"]).status == 1)
                let mixed = try await rvfLock(["status", "--json", "\(dir)/held.rvf", "\(dir)/invalid.rvf", "\(dir)/free.rvf"])
                #expect(mixed.status == 2)
                #expect(try jsonObjects(mixed.standardOutput).map { $0["state"] as? String } == ["held", "invalid", "free"])

                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }
    }
}
