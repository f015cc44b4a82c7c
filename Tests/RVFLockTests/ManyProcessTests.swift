import Testing

/// The races of many processes at once (torn reads, stale-lock breakers, other
/// users' breakers, hundreds of waits): one at a time, as ``CrossProcessTests``
/// run, but in a line of their own beside those, so that `swift test` takes the
/// time of the longer line, not of both. Their workers start through
/// ``CrossProcessTests/probe(_:_:_:in:keepsStandardInputOpen:name:environment:closedStandardDescriptors:user:)``.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ManyProcessTests {}
