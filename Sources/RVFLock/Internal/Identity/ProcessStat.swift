/// One line of `/proc/PID/stat`, read and parsed in one place for the library
/// (start times), `rvf-lock exec` (COMMAND's process tree) and the torture
/// harness (its workers' parents and states).
///
/// The command name in field 2 may hold spaces and parentheses, so the fields
/// after it are counted from the last `)`.
package struct ProcessStat: Equatable, Sendable {
    package let pid: Int32
    /// The command name (at most 15 bytes, as the kernel keeps it).
    package let name: String
    /// Field 3: `R`, `S`, `D`, `T` (stopped), `t` (traced), `Z`...
    package let state: UInt8
    package let parent: Int32
    package let processGroup: Int32
    /// Field 22: clock ticks after boot. With the pid, it names the process uniquely.
    package let startTicks: UInt64

    /// The process `pid` of this process's PID namespace (as `/proc` shows it); nil
    /// when it is gone or cannot be read.
    package static func read(_ pid: Int32) -> ProcessStat? {
        guard let bytes = Syscalls.readProcFile("/proc/\(pid)/stat", limit: 1024) else { return nil }
        return ProcessStat(parsing: bytes)
    }

    /// Parses a `/proc/PID/stat` line; nil if it is not one.
    package init?(parsing bytes: [UInt8]) {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")), let close = bytes.lastIndex(of: UInt8(ascii: ")")),
            open < close, let digits = bytes[..<open].split(separator: UInt8(ascii: " ")).first,
            let pid = Int32(String(decoding: digits, as: UTF8.self))
        else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state): field 22 is fields[19].
        guard fields.count > 19, let state = fields[0].first,
            let parent = Int32(String(decoding: fields[1], as: UTF8.self)),
            let group = Int32(String(decoding: fields[2], as: UTF8.self)),
            let start = UInt64(String(decoding: fields[19], as: UTF8.self))
        else { return nil }
        self.pid = pid
        self.name = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        self.state = state
        self.parent = parent
        self.processGroup = group
        self.startTicks = start
    }
}
