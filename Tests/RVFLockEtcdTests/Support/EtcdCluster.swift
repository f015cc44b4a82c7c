#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import Foundation
import NIOCore
import RVFLockTestSupport
@testable import RVFLockEtcd
import Synchronization

/// A real etcd cluster of the tests' own: members on 127.0.0.1 (or on an
/// address inside a network namespace) at free ports, their data on tmpfs,
/// started, stopped, paused and killed by the tests.
final class EtcdCluster: Sendable {
    struct Member: Sendable {
        let name: String
        let clientURL: String
        let peerURL: String
        let dataDirectory: String
    }

    let members: [Member]
    /// The client URLs, comma-separated, as `--etcd` takes them.
    let endpoints: String
    /// The certificate the members serve their clients over TLS with; nil: plain HTTP.
    let certificate: ServerCertificate?
    private let processes: Mutex<[ChildProcess?]>
    private let sandbox: Sandbox
    private let launcher: [String]
    private let token = "rvf-test-\(UInt32.random(in: 0...UInt32.max))"

    static let etcd = Tools.path(of: "etcd")
    static let etcdctl = Tools.path(of: "etcdctl")

    /// Why the tests that need etcd cannot run here; nil when they can.
    static let unavailableReason: String? = {
        guard etcd != nil, etcdctl != nil else {
            return "etcd is not installed (apt-get install etcd-server etcd-client puts etcd and etcdctl on PATH)"
        }
        return nil
    }()

    /// Starts `size` members on `host` and waits until the cluster has a leader.
    ///
    /// - Parameters:
    ///   - launcher: a command to start each member through (`ip netns exec NS`).
    ///   - basePort: fixed ports from here (inside a namespace of the test's own);
    ///     nil picks free ports on this machine.
    ///   - certificate: serve the clients over TLS (`https://` client URLs) with it.
    init(
        size: Int = 3, host: String = "127.0.0.1", launcher: [String] = [], basePort: Int? = nil,
        certificate: ServerCertificate? = nil
    ) async throws {
        sandbox = Sandbox(under: "/dev/shm")
        Leftovers.removeAtExit(sandbox.path)
        self.launcher = launcher
        self.certificate = certificate
        let clientScheme = certificate == nil ? "http" : "https"
        var members: [Member] = []
        let ports = try basePort.map { base in (0..<(2 * size)).map { base + $0 } } ?? Self.freePorts(2 * size)
        for index in 0..<size {
            members.append(
                Member(
                    name: "m\(index)", clientURL: "\(clientScheme)://\(host):\(ports[2 * index])",
                    peerURL: "http://\(host):\(ports[2 * index + 1])",
                    dataDirectory: "\(sandbox.path)/m\(index)"))
        }
        self.members = members
        endpoints = members.map(\.clientURL).joined(separator: ",")
        processes = Mutex(Array(repeating: nil, count: size))
        for index in members.indices { try start(index, state: "new") }
        guard try await waitForLeader(timeout: .seconds(30)) != nil else {
            throw ClusterFailure("the test cluster elected no leader in 30 s: \(errorOutput())")
        }
    }

    deinit {
        processes.withLock { processes in
            for process in processes { process?.send(SIGKILL) }
        }
    }

    /// Starts member `index` (again, after ``stop(_:signal:)``, with its data).
    func start(_ index: Int, state: String = "existing") throws {
        let member = members[index]
        let cluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        let arguments =
            launcher + [
                Self.etcd!, "--name", member.name, "--data-dir", member.dataDirectory,
                "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
                "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
                "--initial-cluster", cluster, "--initial-cluster-state", state, "--initial-cluster-token", token,
                "--logger", "zap", "--log-level", "warn",
            ] + (certificate.map { ["--cert-file", $0.certificateFile, "--key-file", $0.keyFile] } ?? [])
        let process = try ChildProcess(arguments, outputIn: sandbox.path, name: member.name)
        processes.withLock { $0[index] = process }
    }

    /// Stops member `index` with `signal` (SIGKILL: a crash) and waits until it is gone.
    func stop(_ index: Int, signal: CInt = SIGKILL) async {
        guard let process = processes.withLock({ $0[index] }) else { return }
        process.send(signal)
        _ = await process.waitForExit(timeout: .seconds(20))
        processes.withLock { $0[index] = nil }
    }

    /// Freezes member `index` (SIGSTOP): it answers nothing, its connections stay open.
    func pause(_ index: Int) { processes.withLock { $0[index] }?.send(SIGSTOP) }

    func resume(_ index: Int) { processes.withLock { $0[index] }?.send(SIGCONT) }

    /// The index of the leader, once one is known (nil after `timeout`).
    func waitForLeader(timeout: Duration = .seconds(20)) async throws -> Int? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let leader = await leader() { return leader }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// The leader's index, as the running members report it.
    func leader() async -> Int? {
        for (index, member) in members.enumerated() where processes.withLock({ $0[index] != nil }) {
            guard let status = await self.status(of: member) else { continue }
            guard let leaderID = status.leader, leaderID != 0 else { continue }
            for (other, candidate) in members.enumerated() where processes.withLock({ $0[other] != nil }) {
                if await self.status(of: candidate)?.memberID == leaderID { return other }
            }
        }
        return nil
    }

    private func status(of member: Member) async -> (memberID: UInt64?, leader: UInt64?)? {
        let arguments =
            launcher + [
                Self.etcdctl!, "--endpoints", member.clientURL, "--command-timeout", "1s",
                "endpoint", "status", "-w", "json",
            ] + trustArguments
        guard
            let result = try? await ChildProcess.run(
                arguments, environment: ["ETCDCTL_API": "3"], in: sandbox.path,
                timeout: .seconds(5)),
            result.status == 0,
            let array = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]],
            let status = array.first?["Status"] as? [String: Any],
            let header = status["header"] as? [String: Any]
        else { return nil }
        return ((header["member_id"] as? NSNumber)?.uint64Value, (status["leader"] as? NSNumber)?.uint64Value)
    }

    /// The sum, over the running members, of a gauge their `/metrics` pages show
    /// (nil when a page could not be read or has no such gauge).
    func gauge(_ name: String) async -> Double? {
        var sum = 0.0
        for (index, member) in members.enumerated() where processes.withLock({ $0[index] != nil }) {
            guard
                let response = try? await HTTPClient.shared.execute(
                    HTTPClientRequest(url: member.clientURL + "/metrics"), timeout: .seconds(5)),
                let body = try? await response.body.collect(upTo: 1 << 22),
                let line = String(buffer: body).split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }),
                let value = Double(line.dropFirst(name.count + 1))
            else { return nil }
            sum += value
        }
        return sum
    }

    /// Runs etcdctl against the cluster.
    func etcdctl(_ arguments: [String], timeout: Duration = .seconds(20)) async throws -> Completed {
        try await ChildProcess.run(
            launcher + [Self.etcdctl!, "--endpoints", endpoints] + trustArguments + arguments,
            environment: ["ETCDCTL_API": "3"], in: sandbox.path, timeout: timeout)
    }

    /// What etcdctl needs to trust the members' certificate.
    private var trustArguments: [String] { certificate.map { ["--cacert", $0.authorityFile] } ?? [] }

    /// The members' messages, for failures.
    func errorOutput() -> String {
        processes.withLock { $0.compactMap { $0?.errorOutput.suffix(2000) }.joined(separator: "\n---\n") }
    }

    /// Free TCP ports on 127.0.0.1, distinct.
    static func freePorts(_ count: Int) throws -> [Int] {
        var ports: [Int] = []
        var sockets: [CInt] = []
        defer { for socket in sockets { close(socket) } }
        while ports.count < count {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw ClusterFailure("socket: \(String(cString: strerror(errno)))") }
            sockets.append(descriptor)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw ClusterFailure("bind: \(String(cString: strerror(errno)))") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}

struct ClusterFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
