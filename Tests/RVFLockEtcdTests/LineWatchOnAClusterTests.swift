import Foundation
import RVFLockTestSupport
@testable import RVFLockEtcd
import Testing

extension EtcdTests {
    /// A waiter's watch of the line against a real cluster: where it starts, and how
    /// it counts the keys ahead down across a new look.
    @Suite struct LineWatchOnAClusterTests {
        /// One member of their own: the tests read its count of watches, which the
        /// other suites' watches on the shared cluster would move.
        static let cluster = Task { try await EtcdCluster(size: 1) }

        /// What every write answers with, here: its revision.
        struct Written: Decodable {
            var header: ResponseHeader?
        }

        /// A line of keys under a prefix of its own, written and deleted through the gateway.
        struct Line {
            let cluster: EtcdCluster
            let gateway: EtcdGateway
            let prefix = "rvf-lock-test/line-\(UUID().uuidString)/"

            var range: (key: Data, end: Data) { (Data(prefix.utf8), KeyRange.end(ofPrefix: prefix)) }

            func key(_ name: String) -> Data { Data((prefix + name).utf8) }

            /// Writes `key` (under the prefix, or anywhere) and returns the revision of the write.
            @discardableResult
            func put(_ key: Data) async throws -> Int64 {
                let written: Written = try await gateway.call("/v3/kv/put", PutRequest(key: key, value: Data(), lease: EtcdInt64(0)))
                return try #require(written.header?.revision?.value)
            }

            @discardableResult
            func delete(_ key: Data) async throws -> Int64 {
                let written: Written = try await gateway.call("/v3/kv/deleterange", DeleteRangeRequest(key: key))
                return try #require(written.header?.revision?.value)
            }

            /// The cluster's revision now, as a look at the line reads it.
            func look() async throws -> Int64 {
                let answer: RangeResponse = try await gateway.call(
                    "/v3/kv/range", RangeRequest(key: range.key, range_end: range.end))
                return try #require(answer.header?.revision?.value)
            }

        }

        func line() async throws -> Line {
            let cluster = try await Self.cluster.value
            return Line(cluster: cluster, gateway: try EtcdGateway(options: try EtcdOptions(endpointList: cluster.endpoints)))
        }

        /// The watch's next end, or nil when none came in 20 s (a watch that missed a deletion).
        func nextEnd(of watch: LineWatch) async -> LineWatch.WaitEnd? {
            await withTaskGroup(of: LineWatch.WaitEnd?.self) { group in
                group.addTask { await watch.waitEnd() }
                group.addTask {
                    try? await Task.sleep(for: .seconds(20))
                    return nil
                }
                defer { group.cancelAll() }
                return await group.next() ?? nil
            }
        }

        /// A line of three keys under a prefix of its own, the last one this writer's.
        func lineOfThree() async throws -> (line: Line, first: Data, second: Data, own: Data) {
            let line = try await line()
            let (first, second, own) = (line.key("1"), line.key("2"), line.key("3"))
            for key in [first, second, own] { try await line.put(key) }
            return (line, first, second, own)
        }

        /// A watch of `line` once etcd has registered it: told that its count came from
        /// the revision before the look, it asks for a new look once it starts.
        func startedWatch(of line: Line, own: Data) async throws -> LineWatch {
            let watch = LineWatch(
                gateway: line.gateway, range: line.range, own: own, ahead: [], allKnown: true,
                seenThrough: try await line.look() - 1)
            #expect(await nextEnd(of: watch) == .startedAfterLook)
            return watch
        }

        /// etcd catches a watch that starts at a revision it has passed up only every
        /// 100 ms: a watch that started after its look must say so, not wait for that.
        @Test func aWatchThatStartsAfterItsLookAsksForANewLookAndCountsOnFromIt() async throws {
            let (line, first, second, own) = try await lineOfThree()
            defer { Task { [gateway = line.gateway] in await gateway.shutdown() } }
            let look = try await line.look()
            // Another writer joins the line between the look and the watch.
            try await line.put(line.key("4"))
            let watch = LineWatch(
                gateway: line.gateway, range: line.range, own: own, ahead: [first, second], allKnown: true, seenThrough: look)
            defer { watch.cancel() }
            #expect(await nextEnd(of: watch) == .startedAfterLook)
            // The watch is among the ones etcd tells of a deletion as it is applied: none
            // waits for the catch-up loop (read first: that loop clears the gauge within 100 ms).
            #expect(await line.cluster.gauge("etcd_debugging_mvcc_slow_watcher_total") == 0)
            #expect((await line.cluster.gauge("etcd_debugging_mvcc_watcher_total") ?? 0) >= 1)

            // The first key goes before the new look (which no longer counts it), the
            // second after it: the watch, which saw both, counts the second only.
            try await line.delete(first)
            let newLook = try await line.look()
            try await line.delete(second)
            #expect(await eventually { watch.deletionsAwaitingLook == 2 })
            watch.recount(ahead: [second], allKnown: true, seenThrough: newLook)
            #expect(await nextEnd(of: watch) == .first)

            // It goes on as the holder's watch of its own key.
            try await line.delete(own)
            #expect(await watch.guardEnd() == .ownKeyDeleted)
        }

        @Test func theWaitEndsWhenTheLastKeyAheadIsDeletedWhicheverGoesLast() async throws {
            let (line, first, second, own) = try await lineOfThree()
            defer { Task { [gateway = line.gateway] in await gateway.shutdown() } }
            let watch = try await startedWatch(of: line, own: own)
            defer { watch.cancel() }
            watch.recount(ahead: [first, second], allKnown: true, seenThrough: try await line.look())
            // A key that is not ahead, then the keys ahead, the later one first.
            try await line.delete(line.key("0"))
            try await line.delete(second)
            try await line.delete(first)
            #expect(await nextEnd(of: watch) == .first)
        }

        /// A look served by a member ahead of the watch's may have seen deletions that the
        /// watch then reports: those are not counted again.
        @Test func aDeletionTheLookHadSeenAlreadyIsNotCountedAgain() async throws {
            let (line, first, second, own) = try await lineOfThree()
            defer { Task { [gateway = line.gateway] in await gateway.shutdown() } }
            let watch = try await startedWatch(of: line, own: own)
            defer { watch.cancel() }
            // As if the look had been made one revision later, and still found `first`.
            watch.recount(ahead: [first, second], allKnown: true, seenThrough: try await line.look() + 1)
            try await line.delete(first)
            try await line.delete(second)
            // `first` still counts as ahead: the wait goes on until the own key goes.
            try await line.delete(own)
            #expect(await nextEnd(of: watch) == .ownKeyDeleted)
        }
    }
}
