// swift-tools-version:6.2
import PackageDescription

// Policy for every target of ours, as swift-log, hummingbird and swift-subprocess do.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "meshguard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "meshguard", targets: ["meshguard"]),
        .executable(name: "meshguard-bench", targets: ["meshguard-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.14.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.16.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        // Layer 0: the pure core. Swift standard library only.
        .target(name: "MeshCore", swiftSettings: strict),

        // Layer 1: C system libraries, located with pkg-config.
        .systemLibrary(name: "CLibMNL", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .target(name: "Netlink", dependencies: ["CLibMNL"], swiftSettings: strict),

        // Layer 2: adapters, each the core plus one outside thing.
        .target(name: "MeshRouting", dependencies: ["MeshCore", "Netlink"], swiftSettings: strict),
        .target(name: "MeshUserspace", dependencies: ["MeshCore"], swiftSettings: strict),
        .target(name: "MeshKernel", dependencies: ["MeshCore", "Netlink"], swiftSettings: strict),
        .target(name: "MeshCrypto", dependencies: ["MeshCore", "CSodium"], swiftSettings: strict),
        .target(
            name: "MeshStoreSQLite",
            dependencies: ["MeshCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // etcd's v3 API: messages and gRPC client stubs generated once from
        // scripts/etcd-api/etcd.proto by scripts/etcd-api/generate.sh, committed, never
        // generated during the build.
        .target(
            name: "EtcdAPI",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .target(
            name: "MeshStoreEtcd",
            dependencies: [
                "MeshCore", "EtcdAPI",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .target(name: "MeshCodec", dependencies: ["MeshCore"], swiftSettings: strict),
        .target(
            name: "MeshHTTP",
            dependencies: [
                "MeshCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),

        // Layer 3: loops. They see the core's ports only.
        .target(
            name: "MeshAgent",
            dependencies: [
                "MeshCore", "MeshCodec",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "MeshController",
            dependencies: [
                "MeshCore", "MeshCodec",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Network-namespace lab: builds local clusters for `meshguard demo` and the end-to-end tests.
        .target(name: "MeshLab", dependencies: ["MeshCore"], swiftSettings: strict),

        // Layer 4: the composition root.
        .executableTarget(
            name: "meshguard",
            dependencies: [
                "MeshCore", "MeshCodec", "MeshAgent", "MeshController", "MeshRouting", "MeshUserspace", "MeshKernel",
                "MeshCrypto", "MeshStoreSQLite", "MeshStoreEtcd", "MeshHTTP", "MeshLab",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Test support: a process that hammers a datastore, for the multi-process conformance tests.
        .executableTarget(
            name: "meshguard-store-worker",
            dependencies: ["MeshCore", "MeshStoreSQLite"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "meshguard-bench",
            dependencies: ["MeshCore", "MeshUserspace", "MeshKernel", "MeshCrypto", "MeshStoreSQLite", "MeshStoreEtcd", "MeshCodec",
                           "MeshAgent", "MeshTestKit", "MeshLab", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),

        // Test kit: fakes with failure injection, implementing the core's ports.
        .target(name: "MeshTestKit", dependencies: ["MeshCore"], swiftSettings: strict),

        .testTarget(name: "MeshCoreTests", dependencies: ["MeshCore", "MeshCodec", "MeshTestKit"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "MeshRouting", "MeshCore", "MeshTestKit"]),
        .testTarget(name: "MeshKernelTests", dependencies: ["MeshKernel", "Netlink", "MeshCore", "MeshTestKit"]),
        .testTarget(name: "MeshUserspaceTests", dependencies: ["MeshUserspace", "MeshCore", "MeshCrypto", "MeshTestKit"]),
        .testTarget(name: "MeshCryptoTests", dependencies: ["MeshCrypto", "MeshCore"]),
        .testTarget(
            name: "MeshStoreTests",
            dependencies: ["MeshStoreSQLite", "MeshStoreEtcd", "EtcdAPI", "MeshCore", "MeshTestKit", "MeshLab"]
        ),
        .testTarget(
            name: "MeshAgentTests",
            dependencies: [
                "MeshAgent", "MeshController", "MeshCodec", "MeshCore", "MeshTestKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "MeshLabTests", dependencies: ["MeshLab", "MeshCore", "MeshTestKit"]),
        .testTarget(name: "EndToEndTests", dependencies: ["MeshLab", "MeshCore", "MeshTestKit"]),
    ]
)
