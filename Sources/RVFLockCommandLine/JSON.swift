/// Just enough JSON writing for `status --json` (rvf-lock's and rvf-lock-etcd's), so that the tools need no Foundation.
package enum JSON {
    /// JSON's null.
    package static let null = "null"

    /// `text` as a JSON string literal, escaping quotes, backslashes and control characters.
    package static func string(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
