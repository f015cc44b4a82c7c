#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import RVFLock
import RVFLockEtcd
import Testing

extension EtcdTests {
    /// A member that serves its clients over TLS, named `https://` with the
    /// authority that signed its certificate: the library and `rvf-lock exec
    /// --etcd` hold its lease as over plain HTTP; without that authority they
    /// hold nothing and say why.
    @Suite(.enabled(if: ServerCertificate.unavailableReason == nil, Comment(rawValue: ServerCertificate.unavailableReason ?? "")))
    struct TLSClusterTests {
        @Test func aMemberServingTLSIsUsedWithTheAuthorityThatSignedItsCertificate() async throws {
            let sandbox = Sandbox()
            let certificate = try await ServerCertificate.make(in: sandbox.path)
            let cluster = try await EtcdCluster(size: 1, certificate: certificate)
            #expect(cluster.endpoints.hasPrefix("https://"))
            let file = sandbox.path + "/data.rvf"

            var options = try EtcdOptions(endpointList: cluster.endpoints)
            options.trustedCertificatesFile = certificate.authorityFile
            let handle = try await EtcdWriterLock(dataFile: file, etcd: options).acquire(timeout: .seconds(10))
            let libraryToken = handle.fencingToken
            try await handle.release()

            let held = try await ChildProcess.run(
                [Tools.rvfLock, "exec", "--etcd", cluster.endpoints, file, "--", "sh", "-c", "echo $RVF_LOCK_FENCE"],
                environment: ["RVF_LOCK_ETCD_CACERT": certificate.authorityFile], in: sandbox.path)
            #expect(held.status == 0, "\(held)")
            let commandToken = Int64(held.output.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(commandToken.map { $0 > libraryToken } == true, "\(held)")

            // The same member by name, as users name theirs: resolved, and its certificate names it.
            let byName = try await ChildProcess.run(
                [
                    Tools.rvfLock, "exec", "--etcd", cluster.endpoints.replacingOccurrences(of: "127.0.0.1", with: "localhost"), file,
                    "true",
                ],
                environment: ["RVF_LOCK_ETCD_CACERT": certificate.authorityFile], in: sandbox.path)
            #expect(byName.status == 0, "\(byName)")

            // Without the authority, the certificate is not trusted: nothing is held.
            let untrusted = try await ChildProcess.run(
                [Tools.rvfLock, "exec", "--etcd", cluster.endpoints, file, "--", "touch", sandbox.path + "/ran"],
                in: sandbox.path)
            #expect(untrusted.status == 69, "\(untrusted)")
            #expect(untrusted.error.contains("no TLS connection"), "\(untrusted)")
            #expect(!FileManager.default.fileExists(atPath: sandbox.path + "/ran"))
            #expect(try WriterLock(dataFile: file).status() == .free)
        }
    }
}
