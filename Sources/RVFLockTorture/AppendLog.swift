#if canImport(Glibc)
import Glibc
#endif

/// An `O_APPEND` file that several processes add whole lines or records to,
/// each with exactly one `write()`, so that the kernel keeps them apart.
struct AppendLog: ~Copyable {
    let descriptor: CInt

    init(path: String) {
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        precondition(descriptor >= 0, "cannot open \(path) for appending: errno \(errno)")
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
