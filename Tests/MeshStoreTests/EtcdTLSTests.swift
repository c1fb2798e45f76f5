import Foundation
import MeshCore
import MeshLab
import MeshStoreEtcd
import Testing

/// TLS towards a real etcd that requires client certificates (`--client-cert-auth`), with a CA
/// and certificates made by openssl for the test.
@Suite(.enabled(if: EtcdCluster.isInstalled && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"),
                "needs etcd-server, etcd-client and openssl (scripts/install-deps.sh installs them)"))
struct EtcdTLSTests {
    /// A CA and a certificate for 127.0.0.1 usable as server and client certificate.
    struct Certificates {
        let directory: TemporaryDirectory
        var files: EtcdCluster.TLSFiles {
            .init(ca: directory.file("ca.pem"), certificate: directory.file("etcd.pem"), key: directory.file("etcd-key.pem"))
        }
        var otherCA: String { directory.file("other-ca.pem") }

        init() throws {
            directory = try TemporaryDirectory()
            let d = directory.path
            func openssl(_ arguments: [String]) throws {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
                process.arguments = arguments
                process.standardOutput = FileHandle.nullDevice
                let errors = Pipe()
                process.standardError = errors
                try process.run()
                let message = errors.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                guard process.terminationStatus == 0 else {
                    throw MeshError(.internalError, "openssl \(arguments.first ?? ""): \(String(decoding: message, as: UTF8.self))")
                }
            }
            for ca in ["ca", "other-ca"] {
                try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                             "-subj", "/CN=meshguard test \(ca)", "-keyout", "\(d)/\(ca)-key.pem", "-out", "\(d)/\(ca).pem"])
            }
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-subj", "/CN=etcd", "-keyout", "\(d)/etcd-key.pem", "-out", "\(d)/etcd.csr"])
            try "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n".write(toFile: "\(d)/ext.cnf", atomically: true, encoding: .utf8)
            try openssl(["x509", "-req", "-in", "\(d)/etcd.csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca-key.pem",
                         "-CAcreateserial", "-days", "2", "-extfile", "\(d)/ext.cnf", "-out", "\(d)/etcd.pem"])
        }
    }

    @Test func mutualTLSWorksAndEveryWrongSetUpIsRefused() async throws {
        let certificates = try Certificates()
        defer { certificates.directory.remove() }
        let files = certificates.files
        let cluster = try EtcdCluster.start(tls: files)
        defer { cluster.stop() }

        /// Set-ups that must fail get a short timeout: with a failing handshake a request waits
        /// for a connection until it runs out.
        func store(_ tls: EtcdConfiguration.TLS?, timeout: Duration = .seconds(2)) throws -> EtcdDatastore {
            var configuration = testEtcdConfiguration(cluster.endpoints, tls: tls)
            configuration.requestTimeout = timeout
            return try EtcdDatastore(configuration: configuration)
        }

        let good = try store(.init(caFile: files.ca, certificateFile: files.certificate, keyFile: files.key), timeout: .seconds(30))
        defer { good.close() }
        try await good.put("/meshguard/v1/config", value: Array("{}".utf8), lease: nil)
        #expect(try await good.get("/meshguard/v1/config").map { text($0.value) } == "{}")

        // No client certificate, a CA that did not sign etcd's certificate, or no TLS at all:
        // each is refused, and none writes anything.
        for (what, tls) in [("no client certificate", EtcdConfiguration.TLS(caFile: files.ca)),
                            ("another CA", EtcdConfiguration.TLS(caFile: certificates.otherCA, certificateFile: files.certificate, keyFile: files.key)),
                            ("plain gRPC", nil)] as [(String, EtcdConfiguration.TLS?)] {
            let wrong = try store(tls)
            defer { wrong.close() }
            let error = await meshError { try await wrong.put("/meshguard/v1/config", value: Array("tampered".utf8), lease: nil) }
            #expect(error != nil, "\(what)")
        }
        #expect(try await good.get("/meshguard/v1/config").map { text($0.value) } == "{}")

        // Files that cannot be read are a clear error at once.
        let missing = await meshError {
            _ = try EtcdDatastore(configuration: EtcdConfiguration(endpoints: cluster.endpoints,
                                                                  tls: .init(caFile: "/nonexistent/ca.pem")))
        }
        #expect(missing?.code == .invalidArgument && missing?.message.contains("/nonexistent/ca.pem") == true)
        let half = await meshError {
            _ = try EtcdDatastore(configuration: EtcdConfiguration(endpoints: cluster.endpoints,
                                                                  tls: .init(caFile: files.ca, certificateFile: files.certificate)))
        }
        #expect(half?.code == .invalidArgument, "\(String(describing: half))")
    }
}
