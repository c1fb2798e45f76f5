import ArgumentParser
import Foundation
import Logging
import MeshCore
import MeshStoreEtcd

/// Options every command that talks to the datastore takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Datastore URL: sqlite:///path/to/file.db or etcd://host:2379[,host:2379…].",
                                            discussion: "Default: $MESHGUARD_DATASTORE, else \(DatastoreLocation.defaultValue)."))
    var datastore: String?

    @Option(name: .customLong("etcd-ca"), help: ArgumentHelp("etcd: PEM file of the CA of etcd's server certificates (turns TLS on).",
                                                           valueName: "file"))
    var etcdCA: String?
    @Option(name: .customLong("etcd-cert"), help: ArgumentHelp("etcd: PEM client certificate (with --etcd-key).", valueName: "file"))
    var etcdCertificate: String?
    @Option(name: .customLong("etcd-key"), help: ArgumentHelp("etcd: PEM key of the client certificate.", valueName: "file"))
    var etcdKey: String?
    @Option(name: .customLong("etcd-user"), help: ArgumentHelp("etcd: user name for etcd's authentication (default: $MESHGUARD_ETCD_USER).",
                                                             valueName: "name"))
    var etcdUser: String?
    @Option(name: .customLong("etcd-password-file"),
            help: ArgumentHelp("etcd: file holding the user's password (default: $MESHGUARD_ETCD_PASSWORD); never give it in argv.",
                               valueName: "file"))
    var etcdPasswordFile: String?

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    func location() throws -> DatastoreLocation {
        try DatastoreLocation(datastore ?? environment["MESHGUARD_DATASTORE"] ?? DatastoreLocation.defaultValue)
    }

    /// The TLS files, from the flags or MESHGUARD_ETCD_CA / _CERT / _KEY; nil: plain gRPC.
    var etcdTLS: EtcdConfiguration.TLS? {
        let ca = etcdCA ?? environment["MESHGUARD_ETCD_CA"]
        let certificate = etcdCertificate ?? environment["MESHGUARD_ETCD_CERT"]
        let key = etcdKey ?? environment["MESHGUARD_ETCD_KEY"]
        if ca == nil && certificate == nil && key == nil { return nil }
        return EtcdConfiguration.TLS(caFile: ca, certificateFile: certificate, keyFile: key)
    }

    /// The user and password, when a user is named. The password comes from a file or the
    /// environment, so that it never shows in `ps`.
    func etcdCredentials() throws -> EtcdConfiguration.Credentials? {
        guard let user = etcdUser ?? environment["MESHGUARD_ETCD_USER"] else {
            if etcdPasswordFile != nil { throw ValidationError("--etcd-password-file needs --etcd-user") }
            return nil
        }
        guard !user.isEmpty else { throw ValidationError("--etcd-user is empty") }
        if let file = etcdPasswordFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("--etcd-password-file \(file) cannot be read")
            }
            // One line; a trailing newline (echo > file) is not part of the password.
            var password = String(decoding: data, as: UTF8.self)
            while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
            guard !password.isEmpty else { throw ValidationError("--etcd-password-file \(file) is empty") }
            return .init(user: user, password: password)
        }
        guard let password = environment["MESHGUARD_ETCD_PASSWORD"], !password.isEmpty else {
            throw ValidationError("etcd user \(user) needs a password: --etcd-password-file FILE or $MESHGUARD_ETCD_PASSWORD")
        }
        return .init(user: user, password: password)
    }

    /// The etcd client settings for `endpoints` from these options.
    func etcdConfiguration(endpoints: [DatastoreEndpoint]) throws -> EtcdConfiguration {
        EtcdConfiguration(endpoints: endpoints, tls: etcdTLS, credentials: try etcdCredentials())
    }

    func validate() throws {
        let location: DatastoreLocation
        do { location = try self.location() } catch let error as MeshError { throw ValidationError(error.message) }
        if case .sqlite = location {
            for (flag, value) in [("--etcd-ca", etcdCA), ("--etcd-cert", etcdCertificate), ("--etcd-key", etcdKey),
                                  ("--etcd-user", etcdUser), ("--etcd-password-file", etcdPasswordFile)] where value != nil {
                throw ValidationError("\(flag) applies to an etcd datastore, not to \(location)")
            }
        }
        if let tls = etcdTLS, (tls.certificateFile == nil) != (tls.keyFile == nil) {
            throw ValidationError("--etcd-cert and --etcd-key go together")
        }
        _ = try etcdCredentials()
    }
}

struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Sets up swift-log once per process: key=value lines on stderr.
    func bootstrap(label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

/// A wall clock backed by the system's real-time clock.
struct SystemWallClock: WallClock {
    func now() -> Timestamp { Timestamp(seconds: Date().timeIntervalSince1970) }
}

/// Parses a Duration like "500ms", "2s", "1m".
func parseDuration(_ text: String, option: String) throws -> Duration {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        if let value = Double(text.dropLast(suffix.count)), value > 0 {
            return .milliseconds(Int64(value * scale * 1000))
        }
    }
    throw ValidationError("\(option) '\(text)' is not a duration like 500ms, 2s or 1m")
}

extension MeshError {
    /// For use in `validate()`: ArgumentParser turns it into exit status 2 with the message.
    var validation: ValidationError { ValidationError(message) }
}
