#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport

/// A certificate authority of the test's own and a certificate it signed for
/// 127.0.0.1 and localhost, made with openssl, for etcd members that serve their
/// clients over TLS.
struct ServerCertificate: Sendable {
    let certificateFile: String
    let keyFile: String
    /// The authority's certificate: what a client must trust.
    let authorityFile: String

    static let openssl = Tools.path(of: "openssl")

    /// Why no certificate can be made here; nil when one can.
    static let unavailableReason: String? =
        openssl == nil ? "openssl is not installed (apt-get install openssl)" : nil

    /// Makes the authority, the server's key and its certificate in `directory`.
    static func make(in directory: String) async throws -> ServerCertificate {
        let made = ServerCertificate(
            certificateFile: directory + "/server.pem", keyFile: directory + "/server.key",
            authorityFile: directory + "/authority.pem")
        let names = directory + "/names.cnf"
        try "subjectAltName = IP:127.0.0.1, DNS:localhost\n".write(toFile: names, atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=RVFLock test authority",
                "-keyout", directory + "/authority.key", "-out", made.authorityFile,
            ],
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                "-keyout", made.keyFile, "-out", directory + "/server.csr",
            ],
            [
                "x509", "-req", "-days", "2", "-in", directory + "/server.csr", "-CA", made.authorityFile,
                "-CAkey", directory + "/authority.key", "-CAcreateserial", "-extfile", names, "-out", made.certificateFile,
            ],
        ]
        for step in steps {
            let result = try await ChildProcess.run([openssl!] + step, in: directory)
            guard result.status == 0 else { throw ClusterFailure("openssl failed: \(result)") }
        }
        return made
    }
}
