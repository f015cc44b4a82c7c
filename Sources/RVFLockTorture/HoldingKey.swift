/// Names one holding of the lock: worker slot, incarnation of that slot, acquisition number.
/// Written as `w3.0.17` in the event log; data records carry the same three numbers.
struct HoldingKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    var writer: Int
    var incarnation: Int
    var acquisition: Int

    init(writer: Int, incarnation: Int, acquisition: Int) {
        self.writer = writer
        self.incarnation = incarnation
        self.acquisition = acquisition
    }

    init?(_ text: Substring) {
        guard text.first == "w" else { return nil }
        let parts = text.dropFirst().split(separator: ".")
        guard parts.count == 3, let writer = Int(parts[0]), let incarnation = Int(parts[1]), let acquisition = Int(parts[2])
        else { return nil }
        self.init(writer: writer, incarnation: incarnation, acquisition: acquisition)
    }

    var description: String { "w\(writer).\(incarnation).\(acquisition)" }

    static func < (lhs: HoldingKey, rhs: HoldingKey) -> Bool {
        (lhs.writer, lhs.incarnation, lhs.acquisition) < (rhs.writer, rhs.incarnation, rhs.acquisition)
    }
}
