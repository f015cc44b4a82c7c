#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
import RVFLockEtcd
import Testing

/// Endpoints that are wrong in each way a user can get them wrong: each fails
/// with an error that says so, in bounded time, and leaves nothing held.
/// None needs etcd, except the one that speaks TLS to a real member.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct BadClusterTests {
    func lock(_ sandbox: Sandbox, endpoints: String, requestTimeout: Duration = .seconds(1)) throws -> EtcdWriterLock {
        var options = try EtcdOptions(endpointList: endpoints)
        options.requestTimeout = requestTimeout
        return EtcdWriterLock(dataFile: sandbox.path + "/data.rvf", etcd: options)
    }

    func expectNothingHeld(_ sandbox: Sandbox) throws {
        #expect(try WriterLock(dataFile: sandbox.path + "/data.rvf").status() == .free)
    }

    @Test func refusedConnectionsFailAtOnceAsUnreachableNamingEachEndpoint() async throws {
        let sandbox = Sandbox()
        let ports = try EtcdCluster.freePorts(2)
        let endpoints = ports.map { "http://127.0.0.1:\($0)" }.joined(separator: ",")
        let started = ContinuousClock.now
        let error = await #expect(throws: EtcdLockError.self) {
            _ = try await lock(sandbox, endpoints: endpoints).acquire(timeout: .seconds(10))
        }
        #expect(error?.code == .unreachable)
        for port in ports { #expect(error?.description.contains("127.0.0.1:\(port)") == true, "\(String(describing: error))") }
        #expect(error?.description.contains("refused") == true, "\(String(describing: error))")
        // Not retried until the request timeout (1 s each): a refusal is final.
        #expect(ContinuousClock.now - started < .seconds(1))
        try expectNothingHeld(sandbox)
    }

    @Test func aClusterThatNeverAnswersFailsWithinTheRequestTimeout() async throws {
        let sandbox = Sandbox()
        // A listening socket that never accepts: connections complete, nothing answers.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(silent, 16)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        // A silence may be a member busy with an election: tried again until the wait's end.
        let started = ContinuousClock.now
        let error = await #expect(throws: EtcdLockError.self) {
            _ = try await lock(sandbox, endpoints: "http://127.0.0.1:\(port)").acquire(timeout: .seconds(3))
        }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .unreachable)
        #expect(error?.description.contains("no answer") == true, "\(String(describing: error))")
        #expect(elapsed >= .milliseconds(2900) && elapsed < .seconds(5), "\(elapsed)")
        try expectNothingHeld(sandbox)
    }

    @Test(.enabled(if: EtcdCluster.unavailableReason == nil, Comment(rawValue: EtcdCluster.unavailableReason ?? "")))
    func tlsToAnEndpointThatServesPlainHTTPFailsAsATLSFailure() async throws {
        let cluster = try await EtcdTests.shared.value
        let sandbox = Sandbox()
        let plain = cluster.members[0].clientURL
        let error = await #expect(throws: EtcdLockError.self) {
            _ = try await lock(sandbox, endpoints: plain.replacingOccurrences(of: "http://", with: "https://"))
                .acquire(timeout: .seconds(10))
        }
        #expect(error?.code == .tlsFailed)
        #expect(error?.description.contains("name it http://") == true, "\(String(describing: error))")
        try expectNothingHeld(sandbox)
    }

    @Test func malformedEndpointListsAreRefusedBeforeAnyRequest() throws {
        for list in ["", " , ", "ftp://etcd:2379", "http://etcd:99999", "http://etcd:2379/v3", "http://:2379"] {
            let error = #expect(throws: EtcdLockError.self) { _ = try EtcdOptions(endpointList: list) }
            #expect(error?.code == .invalidConfiguration, "\(list)")
        }
        #expect(
            try EtcdOptions(endpointList: "etcd-1:2379, https://[::1]:2380,etcd-3").endpoints
                == ["http://etcd-1:2379", "https://[::1]:2380", "http://etcd-3:2379"])
    }

    @Test func aLeaseShorterThanEtcdAllowsIsRefused() async throws {
        let sandbox = Sandbox()
        var options = try EtcdOptions(endpointList: "http://127.0.0.1:1")
        options.leaseTTL = .seconds(1)
        let lock = EtcdWriterLock(dataFile: sandbox.path + "/data.rvf", etcd: options)
        let error = await #expect(throws: EtcdLockError.self) { _ = try await lock.acquire() }
        #expect(error?.code == .invalidConfiguration)
    }
}
