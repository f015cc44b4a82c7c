import Foundation
import RVFLockEtcd
import SystemPackage
import RVFLockTestSupport
import Testing

@Suite struct FencedDataFileTests {
    @Test func aWriteWithAnOlderTokenThanTheStampIsRefusedAndWritesNothing() throws {
        let sandbox = Sandbox()
        let path = sandbox.path + "/data.rvf"
        let file = FencedDataFile(path)
        #expect(try file.currentToken() == nil)
        try file.write(token: 10) { descriptor in _ = try descriptor.writeAll(Array("ten\n".utf8)) }
        #expect(try file.currentToken() == 10)
        // The same token may write again (one holder, many writes), a larger one too.
        try file.write(token: 10) { descriptor in
            _ = try descriptor.seek(offset: 0, from: .end); _ = try descriptor.writeAll(Array("ten again\n".utf8))
        }
        try file.write(token: 12) { descriptor in
            _ = try descriptor.seek(offset: 0, from: .end); _ = try descriptor.writeAll(Array("twelve\n".utf8))
        }
        var ran = false
        let error = #expect(throws: FencingError.self) {
            try file.write(token: 11) { _ in ran = true }
        }
        #expect(error?.code == .superseded)
        #expect(error?.foundToken == 12 && error?.offeredToken == 11)
        #expect(!ran)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "ten\nten again\ntwelve\n")
        #expect(try file.currentToken() == 12)
    }

    @Test func fenceRunsTheCommandOnlyWithANewEnoughToken() async throws {
        let sandbox = Sandbox()
        let path = sandbox.path + "/data.rvf"
        let newer = try await ChildProcess.run(
            [Tools.rvfLockEtcd, "fence", "--token", "7", path, "--", "sh", "-c", "echo seven >> '\(path)'"], in: sandbox.path)
        #expect(newer.status == 0, "\(newer)")
        let older = try await ChildProcess.run(
            [Tools.rvfLockEtcd, "fence", path, "--", "sh", "-c", "echo five >> '\(path)'"],
            environment: ["RVF_LOCK_FENCE": "5"], in: sandbox.path)
        #expect(older.status == 70, "\(older)")
        #expect(older.error.contains("token 7 is stamped"), "\(older)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "seven\n")
    }
}
