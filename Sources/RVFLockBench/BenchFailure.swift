/// The tool itself broke (a worker failed, a file could not be made): the
/// only kind of failure that makes the benchmark exit non-zero.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
