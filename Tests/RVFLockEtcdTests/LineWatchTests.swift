@testable import RVFLockEtcd
import Testing

@Suite struct LineWatchTests {
    /// The sample warms the decoding of the very shape a handoff's event has; one that
    /// failed to decode would warm nothing, silently.
    @Test func theSampleDeletionDecodesAsTheGatewaysDeletionEvent() throws {
        let line = try #require(LineWatch.decodeSampleDeletion())
        let events = try #require(line.result?.events)
        #expect(events.count == 1)
        #expect(events.first?.type == "DELETE")
        #expect(events.first?.kv?.key.isEmpty == false)
    }
}
