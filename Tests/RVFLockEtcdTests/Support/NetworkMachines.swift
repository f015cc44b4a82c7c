#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport

/// "Machines" on this one: network namespaces of the test's own, each with its
/// own loopback, address and (through `unshare --uts`) host name, joined by a
/// bridge in one more namespace where the etcd cluster runs. Nothing is added
/// to this machine's own network; every namespace goes when the value does.
final class NetworkMachines: Sendable {
    let clusterNamespace: String
    let machineNamespaces: [String]
    /// The cluster's address on the bridge.
    static let clusterAddress = "10.213.0.1"

    static let ip = Tools.path(of: "ip")
    static let unshare = Tools.path(of: "unshare")

    /// Why machines cannot be made here; nil when they can.
    static let unavailableReason: String? = {
        guard geteuid() == 0 else { return "network and UTS namespaces need root" }
        guard ip != nil else { return "no ip command (iproute2) on PATH" }
        guard unshare != nil else { return "no unshare command (util-linux) on PATH" }
        return nil
    }()

    init(count: Int, in sandbox: Sandbox) async throws {
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        clusterNamespace = "rvfc-\(tag)"
        machineNamespaces = (0..<count).map { "rvfm-\(tag)-\($0)" }
        let ip = Self.ip!
        var commands: [[String]] = [
            ["netns", "add", clusterNamespace],
            ["-n", clusterNamespace, "link", "set", "lo", "up"],
            ["-n", clusterNamespace, "link", "add", "br0", "type", "bridge"],
            ["-n", clusterNamespace, "addr", "add", "\(Self.clusterAddress)/24", "dev", "br0"],
            ["-n", clusterNamespace, "link", "set", "br0", "up"],
        ]
        for (index, namespace) in machineNamespaces.enumerated() {
            commands += [
                ["netns", "add", namespace],
                ["-n", namespace, "link", "set", "lo", "up"],
                ["link", "add", "eth0", "netns", namespace, "type", "veth", "peer", "name", "m\(index)", "netns", clusterNamespace],
                ["-n", clusterNamespace, "link", "set", "m\(index)", "master", "br0"],
                ["-n", clusterNamespace, "link", "set", "m\(index)", "up"],
                ["-n", namespace, "addr", "add", "10.213.0.\(10 + index)/24", "dev", "eth0"],
                ["-n", namespace, "link", "set", "eth0", "up"],
            ]
        }
        for command in commands {
            let result = try await ChildProcess.run([ip] + command, in: sandbox.path)
            guard result.status == 0 else {
                removeNamespaces()
                throw ClusterFailure("setting up the test's network namespaces failed: \(result)")
            }
        }
    }

    deinit { removeNamespaces() }

    private func removeNamespaces() {
        for namespace in machineNamespaces + [clusterNamespace] {
            let parts: [String] = [Self.ip!, "netns", "del", namespace]
            let argv: [UnsafeMutablePointer<CChar>?] = parts.map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            var pid: pid_t = 0
            if posix_spawn(&pid, Self.ip!, nil, nil, argv, environ) == 0 {
                var status: CInt = 0
                waitpid(pid, &status, 0)
            }
        }
    }

    /// What starts a member of the cluster in its namespace.
    var clusterLauncher: [String] { [Self.ip!, "netns", "exec", clusterNamespace] }

    /// What runs a command on machine `index`, under the host name `hostname`.
    func launcher(machine index: Int, hostname: String) -> [String] {
        [
            Self.ip!, "netns", "exec", machineNamespaces[index], Self.unshare!, "--uts", "sh", "-c",
            "hostname \(hostname) && exec \"$0\" \"$@\"",
        ]
    }
}
