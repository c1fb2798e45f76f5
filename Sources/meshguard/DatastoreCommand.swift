import ArgumentParser
import Foundation
import Logging
import MeshCore
import MeshCrypto
import MeshStoreEtcd

/// Low-level access to the datastore, like etcdctl: for debugging and for tests that need to
/// write what no Meshguard component would (a malformed claim, say).
struct DatastoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datastore",
        abstract: "Read and write raw datastore keys (debugging).",
        subcommands: [Get.self, List.self, Put.self, Delete.self, Compact.self, SetupAuth.self]
    )

    struct Get: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Argument var key: String
        func run() async throws {
            let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
            guard let kv = try await db.get(key) else { throw MeshError(.notFound, "no key \(key)") }
            print(String(decoding: kv.value, as: UTF8.self))
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Argument var prefix: String = StoreKeys.all
        func run() async throws {
            let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
            let listing = try await db.list(prefix: prefix)
            for kv in listing.items {
                print("\(kv.key) (rev \(kv.modRevision)\(kv.lease.map { ", lease \($0)" } ?? ""))\n  \(String(decoding: kv.value, as: UTF8.self))")
            }
            print("revision \(listing.revision)")
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a value; '-' reads it from standard input.")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Create the datastore file if it does not exist.") var create = false
        @Argument var key: String
        @Argument var value: String
        func run() async throws {
            let db = try Adapters.store(store, create: create, logger: Logger(label: "meshguard.cli"))
            let bytes = value == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(value.utf8)
            let revision = try await db.put(key, value: bytes, lease: nil)
            print("revision \(revision)")
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Argument var key: String
        func run() async throws {
            let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
            print(try await db.delete(key) ? "deleted" : "not found")
        }
    }

    struct Compact: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        func run() async throws {
            let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
            let revision = try await db.currentRevision()
            try await db.compact(upTo: revision)
            print("compacted up to revision \(revision)")
        }
    }

    struct SetupAuth: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "setup-auth",
            abstract: "etcd: create Meshguard's roles and users and turn authentication on.",
            discussion: """
                Every node gets a user that may write only its own claim and status (and read the rest); \
                the controller and the operator (this CLI) get users that may write everything under \
                /meshguard/. Passwords are random and written to files in --password-dir, one per user \
                (mode 0600), never printed. Run it again with --etcd-user root once auth is on, to add nodes.
                """)
        @OptionGroup var store: StoreOptions
        @Option(name: .customLong("node"), help: "A node to create a user for; repeatable.") var nodes: [String] = []
        @Option(help: "Directory for the password files (created, mode 0700).") var passwordDir: String

        func validate() throws {
            guard case .etcd = try store.location() else { throw ValidationError("setup-auth is for an etcd datastore (--datastore etcd://…)") }
            for node in nodes {
                do { _ = try NodeName(node) } catch { throw ValidationError("--node: \(error.message)") }
            }
            guard Set(nodes).count == nodes.count else { throw ValidationError("--node: a node is named twice") }
        }

        func run() async throws {
            guard let db = try Adapters.etcdStore(store) else { throw MeshError(.invalidArgument, "setup-auth needs an etcd datastore") }
            let directory = try PasswordDirectory(path: passwordDir)
            var users = [
                EtcdAccessSetup.User(name: AccessPlan.controllerUser, password: directory.newPassword(), role: AccessPlan.controller),
                EtcdAccessSetup.User(name: AccessPlan.operatorUser, password: directory.newPassword(), role: AccessPlan.operator),
            ]
            for node in try nodes.map(NodeName.init) {
                users.append(.init(name: AccessPlan.nodeUser(node), password: directory.newPassword(), role: AccessPlan.node(node)))
            }
            // An existing root keeps its password unless we are not root (auth still off).
            let rootPassword = try store.etcdCredentials().flatMap { $0.user == "root" ? $0.password : nil } ?? directory.newPassword()
            let done = try await EtcdAccessSetup.apply(on: db, rootPassword: rootPassword, users: users)
            db.close()
            try directory.write(user: "root", password: rootPassword)
            for user in users { try directory.write(user: user.name, password: user.password) }
            for line in done { print(line) }
            print("passwords: \(directory.path)/<user> (root, \(users.map(\.name).joined(separator: ", ")))")
        }
    }
}
