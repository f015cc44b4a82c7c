/// Polls `condition` until it holds, the timeout passes, or the test is cancelled
/// (by its time limit); true when it held. For waiting on other processes, with a
/// generous timeout: never a timing assertion.
public func eventually(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(5), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline && !Task.isCancelled {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
