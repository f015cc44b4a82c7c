/// One client URL of the cluster, checked: `http` or `https`, a host, a port.
struct EtcdEndpoint: Sendable, Equatable {
    let isTLS: Bool
    let host: String
    let port: Int

    /// The URL requests are sent to, without a trailing slash.
    var url: String { "\(isTLS ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Parses `http://HOST:PORT`, `https://HOST:PORT` or `HOST:PORT` (http); the
    /// port defaults to 2379, etcd's client port.
    init(parsing text: String) throws(EtcdLockError) {
        var rest = Substring(text)
        if rest.hasPrefix("https://") {
            isTLS = true
            rest = rest.dropFirst("https://".count)
        } else if rest.hasPrefix("http://") {
            isTLS = false
            rest = rest.dropFirst("http://".count)
        } else if rest.contains("://") {
            throw EtcdLockError(
                .invalidConfiguration,
                "\(text) is not an etcd client URL: only http:// and https:// are supported")
        } else {
            isTLS = false
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("@"), !rest.isEmpty else {
            throw EtcdLockError(
                .invalidConfiguration,
                "\(text) is not an etcd client URL: give SCHEME://HOST:PORT, without a path or user")
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw EtcdLockError(.invalidConfiguration, "\(text): an IPv6 address in brackets lacks its ]")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw EtcdLockError(.invalidConfiguration, "\(text) is not an etcd client URL: unexpected \(after)")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else {
            throw EtcdLockError(.invalidConfiguration, "\(text) is not an etcd client URL: it names no host")
        }
        var port = 2379
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw EtcdLockError(
                    .invalidConfiguration,
                    "\(text) is not an etcd client URL: the port must be a number from 1 to 65535, not \"\(portText)\"")
            }
            port = parsed
        }
        self.host = String(host)
        self.port = port
    }
}
