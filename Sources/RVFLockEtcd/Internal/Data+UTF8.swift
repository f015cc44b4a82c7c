import FoundationEssentials

extension Data {
    /// A string's UTF-8 bytes. `Data(string.utf8)` asks, at run time, whether the
    /// UTF-8 view is contiguous bytes, a search of every protocol conformance in
    /// the program the first time; an array's answer is known when compiling.
    init(utf8Of string: String) {
        self.init(Array(string.utf8))
    }
}
