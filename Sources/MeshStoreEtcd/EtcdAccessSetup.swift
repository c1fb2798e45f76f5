import EtcdAPI
import Foundation
import GRPCCore
import MeshCore
import SwiftProtobuf

/// Turns ``AccessPlan`` into etcd roles and users and switches etcd's authentication on, so
/// that every node's credentials can write that node's claim and status only.
///
/// Run it with credentials that may administer etcd: none while auth is still off, `root`
/// once it is on. It is idempotent: roles and users that exist are kept (their permissions
/// added to, their passwords set to the given ones), and enabling auth twice is no error.
public enum EtcdAccessSetup {
    /// Users to create, with the password each gets (held by the caller; never logged).
    public struct User: Sendable {
        public var name: String
        public var password: String
        public var role: AccessPlan.Role

        public init(name: String, password: String, role: AccessPlan.Role) {
            self.name = name
            self.password = password
            self.role = role
        }
    }

    /// Creates `root` (with etcd's `root` role; etcd refuses to enable auth without it), the
    /// roles and users, then enables auth. Returns what it did, one line each, for the operator.
    public static func apply(on store: EtcdDatastore, rootPassword: String, users: [User]) async throws -> [String] {
        try await store.apply(users: users, rootPassword: rootPassword)
    }
}

extension EtcdDatastore {
    /// ``EtcdAccessSetup/apply(on:rootPassword:users:)``.
    public func apply(users: [EtcdAccessSetup.User], rootPassword: String) async throws -> [String] {
        typealias Setup = EtcdAccessSetup
        let auth = Etcdserverpb_Auth.Client(wrapping: connection.client)
        let options = connection.options
        var done: [String] = []

        func ignoring(_ alreadyThere: String, _ operation: String, _ body: (Metadata) async throws -> Void) async throws -> Bool {
            do {
                try await connection.call(operation) { metadata in try await body(metadata) }
                return true
            } catch let error as MeshError where error.message.contains(alreadyThere) {
                return false
            }
        }

        let rootRoleAdded = try await ignoring("role name already exists", "adding role root") {
            _ = try await auth.roleAdd(.with { $0.name = "root" }, metadata: $0, options: options)
        }
        if rootRoleAdded { done.append("role root") }
        try await Setup.addOrUpdateUser("root", password: rootPassword, role: "root", auth: auth, connection: connection, done: &done)

        for role in Set(users.map(\.role)).sorted(by: { $0.name < $1.name }) {
            let added = try await ignoring("role name already exists", "adding role \(role.name)") {
                _ = try await auth.roleAdd(.with { $0.name = role.name }, metadata: $0, options: options)
            }
            for permission in role.permissions {
                _ = try await connection.call("granting \(permission) to role \(role.name)") { metadata in
                    try await auth.roleGrantPermission(.with {
                        $0.name = role.name
                        $0.perm = .with {
                            $0.key = Data(permission.key.utf8)
                            if permission.isPrefix { $0.rangeEnd = Data(prefixRangeEnd(Array(permission.key.utf8))) }
                            switch permission.access {
                            case .read: $0.permType = .read
                            case .write: $0.permType = .write
                            case .readWrite: $0.permType = .readwrite
                            }
                        }
                    }, metadata: metadata, options: options)
                }
            }
            done.append("role \(role.name)\(added ? "" : " (existed)"): " + role.permissions.map(\.description).joined(separator: ", "))
        }
        for user in users {
            try await Setup.addOrUpdateUser(user.name, password: user.password, role: user.role.name, auth: auth, connection: connection, done: &done)
        }

        do {
            _ = try await connection.call("enabling authentication") { metadata in
                try await auth.authEnable(.init(), metadata: metadata, options: options)
            }
            done.append("authentication enabled")
        } catch let error as MeshError where error.code == .permissionDenied {
            // Already on (and we are root, or the role grants above would have failed).
            done.append("authentication was already enabled")
        }
        return done
    }
}

extension EtcdAccessSetup {
    fileprivate static func addOrUpdateUser(_ name: String, password: String, role: String,
                                        auth: Etcdserverpb_Auth.Client<EtcdConnection.Transport>,
                                        connection: EtcdConnection, done: inout [String]) async throws {
        let options = connection.options
        do {
            _ = try await connection.call("adding user \(name)") { metadata in
                try await auth.userAdd(.with {
                    $0.name = name
                    $0.password = password
                }, metadata: metadata, options: options)
            }
            done.append("user \(name)")
        } catch let error as MeshError where error.message.contains("user name already exists") {
            _ = try await connection.call("setting the password of user \(name)") { metadata in
                try await auth.userChangePassword(.with {
                    $0.name = name
                    $0.password = password
                }, metadata: metadata, options: options)
            }
            done.append("user \(name) (existed; password replaced)")
        }
        _ = try await connection.call("granting role \(role) to user \(name)") { metadata in
            try await auth.userGrantRole(.with {
                $0.user = name
                $0.role = role
            }, metadata: metadata, options: options)
        }
    }
}
