// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "gbsm",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gbsm", targets: ["gbsm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        .target(
            name: "DUIS",
            dependencies: [
                "CLibXML2",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GBCS",
            dependencies: ["DUIS", "SMKI", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MMC",
            dependencies: ["DUIS"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ParseAndCorrelate",
            dependencies: ["GBCS", "MMC", "DUIS"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LoadModel",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Devices",
            dependencies: ["DUIS", "MMC", "SMKI", "GBCS", "LoadModel", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WAN",
            dependencies: ["DUIS", "LoadModel"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SMKI",
            dependencies: [
                "DUIS",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Privacy",
            dependencies: ["DUIS", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Storage",
            dependencies: [
                "DUIS", "Privacy",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Hub",
            dependencies: [
                "DUIS", "SMKI", "GBCS", "MMC", "ParseAndCorrelate", "Storage", "Privacy",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Homes",
            dependencies: [
                "Hub", "DUIS", "GBCS", "MMC", "Storage", "Devices", "LoadModel", "WAN", "Privacy",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Server",
            dependencies: [
                "DUIS", "Hub", "Homes", "Privacy", "Storage", "Devices", "MMC",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "gbsm",
            dependencies: [
                "DUIS", "SMKI", "GBCS", "ParseAndCorrelate", "Storage", "Hub", "Homes", "Server", "LoadModel", "Devices", "MMC", "WAN", "Privacy",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FuzzSupport",
            dependencies: [],
            path: "Fuzz/FuzzSupport",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "HubFuzzer",
            dependencies: ["Hub", "Homes", "DUIS", "SMKI", "GBCS", "Storage", "Devices", "MMC", "FuzzSupport", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/HubFuzzer",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GBCSFuzzer",
            dependencies: ["GBCS", "FuzzSupport"],
            path: "Fuzz/GBCSFuzzer",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "DUISFuzzer",
            dependencies: ["DUIS", "FuzzSupport"],
            path: "Fuzz/DUISFuzzer",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DUISTests",
            dependencies: ["DUIS", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParseAndCorrelateTests",
            dependencies: ["ParseAndCorrelate", "MMC", "Devices", "GBCS", "DUIS", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GBCSTests",
            dependencies: ["GBCS", "DUIS", "SMKI", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SMKITests",
            dependencies: ["SMKI", "DUIS", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DevicesTests",
            dependencies: ["Devices", "MMC", "DUIS", "LoadModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HomesTests",
            dependencies: ["Homes", "Hub", "DUIS", "GBCS", "MMC", "ParseAndCorrelate", "Storage", "TestSupport",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WANTests",
            dependencies: ["WAN", "DUIS"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PrivacyTests",
            dependencies: ["Privacy", "DUIS", "Devices", "MMC", "LoadModel", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "DUIS", "Privacy", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubTests",
            dependencies: ["Hub", "Homes", "Storage", "DUIS", "SMKI", "GBCS", "Devices", "MMC", "Privacy", "TestSupport",
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["Hub", "Homes", "Server", "Storage", "DUIS", "SMKI", "GBCS", "ParseAndCorrelate", "Devices", "MMC", "WAN", "LoadModel", "Privacy", "TestSupport",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport",
            dependencies: ["DUIS", "SMKI", "GBCS", "ParseAndCorrelate", "Storage", "Hub", "Homes", "Server", "Devices", "MMC", "WAN", "Privacy",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
    ]
)
