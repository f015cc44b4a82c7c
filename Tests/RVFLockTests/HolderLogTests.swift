import Testing

/// The log replay that the process tests rely on to see overlapping holders.
@Suite struct HolderLogTests {
    @Test func wellNestedLogHasNoOverlaps() {
        let log = HolderLog("+1\n-1\n+2\n-2\n+1\n-1\n")
        #expect(log.overlaps == 0)
        #expect(log.acquisitions == ["1": 2, "2": 1])
        #expect(log.total == 3)
        #expect(log.holderAtEnd == nil)
        #expect(log.malformedLines.isEmpty)
    }

    @Test func interleavedHoldersAreCountedAsOverlaps() {
        #expect(HolderLog("+1\n+2\n-1\n-2\n").overlaps >= 1)
        #expect(HolderLog("+1\n+2\n-2\n-1\n").overlaps >= 1)
    }

    @Test func unfinishedAndMalformedLinesAreReported() {
        let log = HolderLog("+1\n-1\n+3\nxyz\n")
        #expect(log.holderAtEnd == "3")
        #expect(log.malformedLines == ["xyz"])
    }
}
