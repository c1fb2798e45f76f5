import ArgumentParser
import Foundation
import Logging
import MeshCore

/// Low-level access to the datastore, like etcdctl: for debugging and for tests that need to
/// write what no Meshguard component would (a malformed claim, say).
struct DatastoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datastore",
        abstract: "Read and write raw datastore keys (debugging).",
        subcommands: [Get.self, List.self, Put.self, Delete.self, Compact.self]
    )

    struct Get: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Argument var key: String
        func run() async throws {
            let db = try Adapters.store(store.location(), create: false, logger: Logger(label: "meshguard.cli"))
            guard let kv = try await db.get(key) else { throw MeshError(.notFound, "no key \(key)") }
            print(String(decoding: kv.value, as: UTF8.self))
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Argument var prefix: String = StoreKeys.root
        func run() async throws {
            let db = try Adapters.store(store.location(), create: false, logger: Logger(label: "meshguard.cli"))
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
            let db = try Adapters.store(store.location(), create: create, logger: Logger(label: "meshguard.cli"))
            let bytes = value == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(value.utf8)
            let revision = try await db.put(key, value: bytes, lease: nil)
            print("revision \(revision)")
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Argument var key: String
        func run() async throws {
            let db = try Adapters.store(store.location(), create: false, logger: Logger(label: "meshguard.cli"))
            print(try await db.delete(key) ? "deleted" : "not found")
        }
    }

    struct Compact: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        func run() async throws {
            let db = try Adapters.store(store.location(), create: false, logger: Logger(label: "meshguard.cli"))
            let revision = try await db.currentRevision()
            try await db.compact(upTo: revision)
            print("compacted up to revision \(revision)")
        }
    }
}
