#if canImport(Glibc)
import Glibc
#endif

/// An `O_APPEND` file that several processes add whole lines or records to,
/// each with exactly one `write()`, so that the kernel keeps them apart.
///
/// Its descriptor is 3 or above: a worker started with standard output closed
/// must leave descriptors 0 and 1 for the library to meet, and its careless
/// prints to descriptor 1 must never land in the harness's own log or data file.
struct AppendLog: ~Copyable {
    let descriptor: CInt

    init(path: String) {
        let opened = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        precondition(opened >= 0, "cannot open \(path) for appending: errno \(errno)")
        if opened < 3 {
            descriptor = fcntl(opened, F_DUPFD_CLOEXEC, 3)
            precondition(descriptor >= 0, "cannot move the descriptor of \(path) above 2: errno \(errno)")
            close(opened)
        } else {
            descriptor = opened
        }
    }

    deinit { close(descriptor) }

    func append(_ line: String) { append(Array(line.utf8)) }

    func append(_ bytes: [UInt8]) {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        precondition(written == bytes.count, "short append: \(written) of \(bytes.count) bytes, errno \(errno)")
    }
}

/// Reads what has been appended to a file since the last call.
struct FileTail {
    let path: String
    private(set) var offset: Int = 0
    private var partialLine: [UInt8] = []

    init(path: String) { self.path = path }

    /// Bytes appended since the last call.
    mutating func readNewBytes() -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
            guard count > 0 else { break }
            result += buffer[0..<count]
            offset += count
        }
        return result
    }

    /// Whole lines appended since the last call; a trailing partial line waits for its end.
    mutating func readNewLines() -> [Substring] {
        let bytes = partialLine + readNewBytes()
        guard let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n")) else {
            partialLine = bytes
            return []
        }
        partialLine = Array(bytes[(lastNewline + 1)...])
        let text = String(decoding: bytes[...lastNewline], as: UTF8.self)
        return text.split(separator: "\n")
    }
}
