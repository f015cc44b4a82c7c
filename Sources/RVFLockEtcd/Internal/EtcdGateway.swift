import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import Tracing
#if canImport(Glibc)
import Glibc
#endif

/// The cluster, through etcd's JSON gateway (`POST /v3/...` on the client port):
/// one request at a time to one endpoint, the next endpoint when one does not answer.
///
/// Why the gateway and async-http-client rather than gRPC: see the RVFLockEtcd
/// article ("Why HTTP and JSON"): the same round trips, a smaller build.
final class EtcdGateway: Sendable {
    let endpoints: [EtcdEndpoint]
    private let client: HTTPClient
    private let requestTimeout: Duration
    /// The endpoint that answered last: the first to try next.
    private let preferred = Atomic<Int>(0)

    init(options: EtcdOptions) throws(EtcdLockError) {
        endpoints = try options.validated()
        requestTimeout = options.requestTimeout
        var configuration = HTTPClient.Configuration()
        // The gateway speaks HTTP/1.1 beside gRPC's HTTP/2 on the same port.
        configuration.httpVersion = .http1Only
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .nanoseconds(options.requestTimeout.nanoseconds))
        // A refused connection moves on to the next endpoint at once, instead of being retried until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        // One idle connection kept ready beside those in use: a holder's watch keeps a connection
        // streaming, and the release's deletion, which the next writer waits for, would otherwise
        // first open one (a connect and the client's set-up, on the handoff's path).
        configuration.connectionPool.preWarmedHTTP1ConnectionCount = 1
        if endpoints.contains(where: \.isTLS) {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = options.trustedCertificatesFile { tls.trustRoots = .file(file) }
            configuration.tlsConfiguration = tls
        }
        // Without a tracer bootstrapped (the default, a no-op one), each request would still
        // make a span and set its attributes: 8 % of a profile's samples between reading
        // `release` and sending the deletion. With one, requests are traced as usual.
        if InstrumentationSystem.tracer is NoOpTracer { configuration.tracing.tracer = nil }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes every connection; the gateway cannot be used afterwards.
    func shutdown() async {
        try? await client.shutdown()
    }

    /// The endpoints, for messages: "http://a:2379, http://b:2379".
    var endpointList: String { endpoints.map(\.url).joined(separator: ", ") }

    // MARK: Unary calls

    /// Sends `request` to `path` (`/v3/kv/range`) and decodes the answer, trying
    /// each endpoint once, each for at most the request timeout, all before `deadline`.
    func call<Response: Decodable>(
        _ path: String, _ request: some Encodable, as: Response.Type = Response.self,
        deadline: ContinuousClock.Instant? = nil
    ) async throws(EtcdLockError) -> Response {
        try await call(path, encoded: try encode(request), deadline: deadline)
    }

    /// ``call(_:_:as:deadline:)`` with the request encoded already (``encode(_:)``).
    func call<Response: Decodable>(
        _ path: String, encoded payload: [UInt8], as: Response.Type = Response.self,
        deadline: ContinuousClock.Instant? = nil
    ) async throws(EtcdLockError) -> Response {
        var failures = Failures(path: path)
        var rotation = Rotation(gateway: self, deadline: deadline)
        while let attempt = rotation.next() {
            let body: [UInt8]
            let status: HTTPResponseStatus
            do {
                (status, body) = try await post(attempt.endpoint, path, payload, deadline: attempt.deadline)
            } catch {
                if failedToConnect(attempt, error, &failures) { break }
                continue
            }
            guard status == .ok else {
                try rejected(attempt, status: status, body: body, &failures)
                continue
            }
            do {
                let response = try JSONDecoder().decode(Response.self, from: Data(body))
                preferred.store(attempt.index, ordering: .relaxed)
                return response
            } catch {
                throw EtcdLockError(
                    .unexpectedResponse,
                    "\(attempt.endpoint.url)\(path) answered something that is not etcd's JSON gateway "
                        + "(\(Self.excerpt(body))); is it an etcd 3.4 or later client URL?")
            }
        }
        throw failures.error(endpointList: endpointList, deadlinePassed: deadline.map { .now >= $0 } ?? false)
    }

    // MARK: Streams

    /// Opens a streaming call (`/v3/watch`) on the first endpoint that accepts it,
    /// and hands each line of the answer to `onLine` until it returns true.
    ///
    /// - Throws: when no endpoint accepts the call, or the stream ends or breaks
    ///   before `onLine` returned true (the member went away): the caller starts again.
    func stream(
        _ path: String, _ request: some Encodable, deadline: ContinuousClock.Instant? = nil,
        onLine: (Data) throws(EtcdLockError) -> Bool
    ) async throws(EtcdLockError) {
        let payload = try encode(request)
        var failures = Failures(path: path)
        var rotation = Rotation(gateway: self, deadline: deadline)
        while let attempt = rotation.next() {
            let endpoint = attempt.endpoint
            let connectDeadline = attempt.deadline
            let response: HTTPClientResponse
            do {
                // Only the connection and the answer's head are bounded by the request timeout.
                response = try await withThrowingTaskGroup(of: HTTPClientResponse?.self) { group in
                    group.addTask { [client] in
                        try await client.execute(Self.request(endpoint, path, payload), deadline: Self.nioDeadline(deadline))
                    }
                    group.addTask {
                        try await Task.sleep(until: connectDeadline)
                        return nil
                    }
                    defer { group.cancelAll() }
                    guard let first = try await group.next(), let response = first else {
                        throw HTTPClientError.connectTimeout
                    }
                    return response
                }
            } catch {
                if failedToConnect(attempt, error, &failures) { break }
                continue
            }
            guard response.status == .ok else {
                let body = (try? await response.body.collect(upTo: 1 << 16)).map { Array($0.readableBytesView) } ?? []
                try rejected(attempt, status: response.status, body: body, &failures)
                continue
            }
            preferred.store(attempt.index, ordering: .relaxed)
            var pending: [UInt8] = []
            do {
                for try await chunk in response.body {
                    pending.append(contentsOf: chunk.readableBytesView)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = Data(pending[..<newline])
                        pending.removeSubrange(...newline)
                        if line.isEmpty { continue }
                        if try onLine(line) { return }
                    }
                }
            } catch let error as EtcdLockError {
                throw error
            } catch {
                throw EtcdLockError(.unreachable, "the stream \(endpoint.url)\(path) broke: \(Self.describe(error))")
            }
            throw EtcdLockError(.unreachable, "\(endpoint.url) ended the stream \(path)")
        }
        throw failures.error(endpointList: endpointList, deadlinePassed: deadline.map { .now >= $0 } ?? false)
    }

    // MARK: Transport

    private func post(
        _ endpoint: EtcdEndpoint, _ path: String, _ payload: [UInt8], deadline: ContinuousClock.Instant
    ) async throws -> (HTTPResponseStatus, [UInt8]) {
        let response = try await client.execute(Self.request(endpoint, path, payload), deadline: Self.nioDeadline(deadline))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (response.status, Array(body.readableBytesView))
    }

    private static func request(_ endpoint: EtcdEndpoint, _ path: String, _ payload: [UInt8]) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: endpoint.url + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: payload))
        return request
    }

    /// A request's body, as ``call(_:encoded:as:deadline:)`` sends it.
    func encode(_ request: some Encodable) throws(EtcdLockError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(request))
        } catch {
            throw EtcdLockError(.invalidConfiguration, "cannot encode a request for etcd: \(error)")
        }
    }

    /// The deadline of one attempt: the request timeout from now, but no more than
    /// an even share of what is left before `deadline` among the endpoints still to
    /// try (so that one frozen member cannot use up a keep-alive's whole time), and
    /// at least 200 ms of it; nil when `deadline` has passed.
    /// One try of one endpoint: which, and until when.
    private struct Attempt {
        let index: Int
        let endpoint: EtcdEndpoint
        let deadline: ContinuousClock.Instant
    }

    /// The endpoints in the order a call tries them, each once: the one that answered
    /// last first, each with its share of the time left before the call's deadline.
    private struct Rotation {
        let gateway: EtcdGateway
        let deadline: ContinuousClock.Instant?
        private let first: Int
        private var offset = 0

        init(gateway: EtcdGateway, deadline: ContinuousClock.Instant?) {
            self.gateway = gateway
            self.deadline = deadline
            first = gateway.preferred.load(ordering: .relaxed)
        }

        /// The next endpoint to try; nil when each was tried or no time is left.
        mutating func next() -> Attempt? {
            let count = gateway.endpoints.count
            guard offset < count,
                let attemptDeadline = gateway.attemptDeadline(before: deadline, endpointsLeft: count - offset)
            else { return nil }
            let index = (first + offset) % count
            offset += 1
            return Attempt(index: index, endpoint: gateway.endpoints[index], deadline: attemptDeadline)
        }
    }

    /// Records that `attempt` got no answer (refused, timed out, TLS); true when the
    /// call is cancelled and must stop trying.
    private func failedToConnect(_ attempt: Attempt, _ error: any Error, _ failures: inout Failures) -> Bool {
        failures.add(attempt.endpoint, transportError: error, timeout: attempt.deadline)
        avoid(attempt.index)
        return Task.isCancelled
    }

    /// Records an answer other than 200: thrown, unless another member may do better
    /// (one without a leader, or one that timed out inside the cluster).
    private func rejected(
        _ attempt: Attempt, status: HTTPResponseStatus, body: [UInt8], _ failures: inout Failures
    ) throws(EtcdLockError) {
        let gatewayError = try? JSONDecoder().decode(GatewayError.self, from: Data(body))
        let failure = failures.add(attempt.endpoint, status: status, gatewayError: gatewayError, body: body)
        if failure.code != .unavailable { throw failure }
        avoid(attempt.index)
    }

    private func attemptDeadline(before deadline: ContinuousClock.Instant?, endpointsLeft: Int) -> ContinuousClock.Instant? {
        let now = ContinuousClock.now
        guard let deadline else { return now + requestTimeout }
        guard deadline > now else { return nil }
        let share = max((deadline - now) / max(endpointsLeft, 1), .milliseconds(200))
        return min(now + min(requestTimeout, share), deadline)
    }

    /// After `index` failed: start the next call with the endpoint after it.
    private func avoid(_ index: Int) {
        _ = preferred.compareExchange(expected: index, desired: (index + 1) % endpoints.count, ordering: .relaxed)
    }

    private static func nioDeadline(_ deadline: ContinuousClock.Instant?) -> NIODeadline {
        guard let deadline else { return .distantFuture }
        let remaining = deadline - .now
        return .now() + .nanoseconds(max(remaining.nanoseconds, 0))
    }

    /// The start of a response body, for messages.
    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(120), as: UTF8.self)
        return text.isEmpty ? "an empty body" : "\"\(text)\(body.count > 120 ? "..." : "")\""
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "no connection within the request timeout"
            case .deadlineExceeded: return "no answer within the request timeout"
            case .readTimeout: return "no answer within the request timeout"
            case .remoteConnectionClosed: return "the connection was closed by the other side"
            case .cancelled: return "cancelled"
            default: break
            }
        }
        if let error = error as? NIOConnectionError {
            let reasons = error.connectionErrors.map { describe($0.error) }
            if let first = reasons.first { return first }
            if let dnsError = error.dnsAAAAError ?? error.dnsAError { return "cannot resolve the host (\(dnsError))" }
        }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode))
        }
        return "\(error)"
    }

    /// Whether a transport failure is a TLS one: a handshake refused or not understood.
    static func isTLSFailure(_ error: any Error) -> Bool {
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError { return true }
        if let error = error as? NIOConnectionError {
            return error.connectionErrors.contains { isTLSFailure($0.error) }
        }
        return false
    }

    /// Whether a transport failure is a reset of the connection: what a server that
    /// does not speak TLS may answer a TLS handshake with, instead of the bytes that
    /// make the handshake fail (which of the two comes first is a race).
    static func isReset(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNRESET }
        if let error = error as? NIOConnectionError {
            return error.connectionErrors.contains { isReset($0.error) }
        }
        return false
    }
}

/// What went wrong with each endpoint during one call, for the message that
/// says so when none answered.
private struct Failures {
    let path: String
    private var reasons: [String] = []
    private var sawAnswer: EtcdLockError?
    private var sawTLS = false
    private var sawTransport = false
    private var sawTimeout = false

    init(path: String) { self.path = path }

    mutating func add(_ endpoint: EtcdEndpoint, transportError error: any Error, timeout: ContinuousClock.Instant) {
        if EtcdGateway.isTLSFailure(error) || (endpoint.isTLS && EtcdGateway.isReset(error)) {
            sawTLS = true
            let hint =
                endpoint.isTLS
                ? "TLS handshake failed (\(EtcdGateway.describe(error))); if it serves plain HTTP, name it http://\(endpoint.host):\(endpoint.port)"
                    + ", otherwise check its certificate and the trusted certificates"
                : "TLS failure (\(EtcdGateway.describe(error)))"
            reasons.append("\(endpoint.url): \(hint)")
        } else {
            sawTransport = true
            if let error = error as? HTTPClientError,
                [.connectTimeout, .deadlineExceeded, .readTimeout, .remoteConnectionClosed].contains(error)
            {
                sawTimeout = true
            }
            reasons.append("\(endpoint.url): \(EtcdGateway.describe(error))")
        }
    }

    @discardableResult
    mutating func add(
        _ endpoint: EtcdEndpoint, status: HTTPResponseStatus, gatewayError: GatewayError?, body: [UInt8]
    ) -> EtcdLockError {
        let failure: EtcdLockError
        if let gatewayError {
            // gRPC codes: 14 unavailable (no leader, member stopping), 4 deadline exceeded
            // (the cluster's own request timeout: no quorum), 1 cancelled.
            let code: EtcdLockError.Code = [14, 4, 1, 10].contains(gatewayError.code ?? 0) ? .unavailable : .unexpectedResponse
            failure = EtcdLockError(code, "\(endpoint.url)\(path): etcd answered \"\(gatewayError.text)\"")
        } else if status == .notFound {
            failure = EtcdLockError(
                .unexpectedResponse,
                "\(endpoint.url)\(path) does not exist (HTTP 404): is it etcd 3.4 or later, with its JSON gateway on?")
        } else {
            failure = EtcdLockError(
                .unexpectedResponse,
                "\(endpoint.url)\(path) answered HTTP \(status.code) with \(EtcdGateway.excerpt(body))")
        }
        reasons.append(failure.description)
        if failure.code == .unavailable { sawAnswer = failure }
        return failure
    }

    /// The error for a call that no endpoint served.
    func error(endpointList: String, deadlinePassed: Bool) -> EtcdLockError {
        let detail = reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))"
        if sawAnswer != nil {
            return EtcdLockError(
                .unavailable,
                "the etcd cluster at \(endpointList) cannot serve requests now\(detail); it may have lost its "
                    + "quorum (a majority of its members down or cut off): nothing is held; try again once "
                    + "most members are up", transient: true)
        }
        if sawTLS && !sawTransport {
            return EtcdLockError(.tlsFailed, "no TLS connection to the etcd cluster at \(endpointList)\(detail); nothing is held")
        }
        let time = deadlinePassed && reasons.isEmpty ? " before the wait's deadline" : ""
        return EtcdLockError(
            .unreachable,
            "no answer from the etcd cluster at \(endpointList)\(time)\(detail); check that etcd runs there, "
                + "that most of its members are up, and that this machine can reach them: nothing is held",
            transient: sawTimeout || deadlinePassed)
    }
}

extension Duration {
    /// The whole nanoseconds of the duration, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
