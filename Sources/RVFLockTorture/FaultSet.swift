import ArgumentParser

/// The kinds of fault the harness can inject; `--faults all|none|kill,stop,...`.
struct FaultSet: OptionSet, ExpressibleByArgument, CustomStringConvertible, Sendable {
    let rawValue: Int

    /// SIGKILL a worker, mostly one that holds the lock, and respawn it.
    static let kill = FaultSet(rawValue: 1 << 0)
    /// SIGSTOP a holder beyond the stale threshold, then SIGCONT it.
    static let stop = FaultSet(rawValue: 1 << 1)
    /// Plant invalid or unbreakable things at the lock path while the lock is free.
    static let plant = FaultSet(rawValue: 1 << 2)
    /// Run some workers under another hostname and in another PID namespace.
    static let namespaces = FaultSet(rawValue: 1 << 3)
    /// Run some workers with named temporary files, so that kills can leave them behind.
    static let temporaries = FaultSet(rawValue: 1 << 4)
    /// Run some workers through `rvf-lock exec` with a grandchild writing; kills hit their rvf-lock.
    static let exec = FaultSet(rawValue: 1 << 5)
    /// Run some workers that take the lock by a relative path and change directory while holding it.
    static let chdir = FaultSet(rawValue: 1 << 6)
    /// Run some workers with standard output (some also standard input) closed, printing while holding.
    static let closedStdout = FaultSet(rawValue: 1 << 7)
    /// Now and then, a reference implementation holder that names this host by an alias, held
    /// beyond the other-host threshold (needs rustc and the reference's `locking.rs`).
    static let aliasReference = FaultSet(rawValue: 1 << 8)
    /// A process of another user (nobody) in the shared directory, breaking stale locks again
    /// and again while the workers hold, release, die and plant (needs root and setpriv).
    static let otherUser = FaultSet(rawValue: 1 << 9)

    static let all: FaultSet = [
        .kill, .stop, .plant, .namespaces, .temporaries, .exec, .chdir, .closedStdout, .aliasReference, .otherUser,
    ]
    static let names: [(String, FaultSet)] = [
        ("kill", .kill), ("stop", .stop), ("plant", .plant), ("namespaces", .namespaces), ("temporaries", .temporaries),
        ("exec", .exec), ("chdir", .chdir), ("closed-stdout", .closedStdout), ("alias-reference", .aliasReference),
        ("other-user", .otherUser),
    ]

    init(rawValue: Int) { self.rawValue = rawValue }

    init?(argument: String) {
        switch argument {
        case "all": self = .all
        case "none": self = []
        default:
            var set: FaultSet = []
            for name in argument.split(separator: ",") {
                guard let fault = Self.names.first(where: { $0.0 == name })?.1 else { return nil }
                set.insert(fault)
            }
            self = set
        }
    }

    var defaultValueDescription: String { description == FaultSet.all.description ? "all" : description }

    static var allValueStrings: [String] { ["all", "none"] + names.map(\.0) }

    var description: String {
        let chosen = Self.names.filter { contains($0.1) }.map(\.0)
        return chosen.isEmpty ? "none" : chosen.joined(separator: ",")
    }
}
