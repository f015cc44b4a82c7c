import ArgumentParser

extension HoldCommand {
    /// Parses `hold`'s arguments (what follows `hold`) without ArgumentParser, in the
    /// form `rvf-lock exec --etcd` writes them (`EtcdCoordinator`): `--etcd
    /// ENDPOINTS`, `-w SECONDS`, `-n`, `-q`, each at most once, then `--` and FILE.
    ///
    /// Nil for anything else, which ArgumentParser then parses and reports on. Its
    /// reflection over the command types, at every start, was a sixth of this
    /// program's CPU for a whole holding (`perf record` of uncontended runs), and a
    /// waiter's start is CPU taken from the handoff it waits for.
    init?(fastParsing arguments: ArraySlice<String>) {
        self.init()
        var endpoints: String?
        var waitSeconds: Double?
        var noWait = false
        var quiet = false
        var index = arguments.startIndex
        /// The value after an option, unless missing or one ArgumentParser would take for an option.
        func value() -> String? {
            guard index < arguments.endIndex, !arguments[index].hasPrefix("-") else { return nil }
            defer { index += 1 }
            return arguments[index]
        }
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            switch argument {
            case "--":
                guard index == arguments.endIndex - 1 else { return nil }
                var settings = EtcdSettings()
                settings.endpoints = endpoints
                settings.prefix = nil
                settings.name = nil
                settings.ttlSeconds = nil
                self.settings = settings
                self.waitSeconds = waitSeconds
                self.noWait = noWait
                self.quiet = quiet
                file = arguments[index]
                return
            case "--etcd":
                guard endpoints == nil, let given = value() else { return nil }
                endpoints = given
            case "-w", "--wait":
                guard waitSeconds == nil, let given = value(), let seconds = Double(given) else { return nil }
                waitSeconds = seconds
            case "-n", "--no-wait":
                guard !noWait else { return nil }
                noWait = true
            case "-q", "--quiet":
                guard !quiet else { return nil }
                quiet = true
            default:
                return nil
            }
        }
        return nil
    }

    /// What ArgumentParser makes of `arguments` (those after `hold`): the reference
    /// that ``init(fastParsing:)`` is tested against.
    static func parsedByArgumentParser(_ arguments: [String]) throws -> HoldCommand {
        try parse(arguments)
    }
}
