/// The `+ID` / `-ID` lines that workers append around their time holding the lock,
/// replayed to find any moment when two held it at once.
struct HolderLog {
    /// Entries into the critical section while another worker was inside, plus exits by a worker not inside.
    private(set) var overlaps = 0
    /// How many times each worker entered.
    private(set) var acquisitions: [String: Int] = [:]
    /// Lines that are neither `+ID` nor `-ID`.
    private(set) var malformedLines: [String] = []
    /// The worker still inside at the end of the log, if any.
    private(set) var holderAtEnd: String?

    var total: Int { acquisitions.values.reduce(0, +) }

    init(_ text: String) {
        var inside: String?
        for line in text.split(separator: "\n").map(String.init) {
            guard let sign = line.first, line.count > 1 else {
                malformedLines.append(line)
                continue
            }
            let id = String(line.dropFirst())
            switch sign {
            case "+":
                if inside != nil { overlaps += 1 }
                inside = id
                acquisitions[id, default: 0] += 1
            case "-":
                if inside != id { overlaps += 1 }
                inside = nil
            default:
                malformedLines.append(line)
            }
        }
        holderAtEnd = inside
    }

    init(contentsOf path: String) {
        self.init(LockFiles.read(path).map { String(decoding: $0, as: UTF8.self) } ?? "")
    }
}
