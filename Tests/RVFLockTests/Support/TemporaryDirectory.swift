#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SystemPackage

/// A fresh directory under /tmp (or another base), removed with everything in it when released.
///
/// Every test works in one of its own, so that tests running in parallel never
/// see each other's lock files.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ label: String = "rvflock-tests", in base: String = "/tmp") {
        path = Self.create(label, in: base)
    }

    /// Creates a uniquely named directory under `base` that nothing removes automatically.
    static func create(_ label: String, in base: String = "/tmp") -> String {
        var template = Array("\(base)/\(label).XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed: errno \(errno)")
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A path inside the directory.
    func file(_ name: String) -> String { path + "/" + name }

    /// The names in the directory, without `.` and `..`.
    var entries: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }
}
