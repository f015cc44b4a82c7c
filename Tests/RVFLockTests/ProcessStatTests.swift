#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import Testing

/// `/proc/PID/stat` as the library, `rvf-lock exec` and the torture harness read it.
@Suite struct ProcessStatTests {
    @Test func aCommandNameWithSpacesAndParenthesesDoesNotShiftTheFields() throws {
        let line = "4242 (my (odd) name) T 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3\n"
        let stat = try #require(ProcessStat(parsing: Array(line.utf8)))
        #expect(stat.pid == 4242)
        #expect(stat.name == "my (odd) name")
        #expect(stat.state == UInt8(ascii: "T"))
        #expect(stat.parent == 17)
        #expect(stat.processGroup == 4242)
        #expect(stat.startTicks == 987654)
    }

    @Test func thisProcessIsReadWithItsPidAndParent() throws {
        let stat = try #require(ProcessStat.read(getpid()))
        #expect(stat.pid == getpid())
        #expect(stat.parent == getppid())
        #expect(stat.startTicks > 0)
    }

    @Test func truncatedOrForeignLinesAreRefused() {
        #expect(ProcessStat(parsing: Array("4242 (name) S 1 2".utf8)) == nil)
        #expect(ProcessStat(parsing: Array("not a stat line".utf8)) == nil)
        #expect(ProcessStat(parsing: []) == nil)
    }
}
