// swift-tools-version: 6.2
import PackageDescription

// Strict settings shared by every Swift target, so that no target quietly
// builds under looser rules than the library.
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "RVFLock",
    products: [
        .library(name: "RVFLock", targets: ["RVFLock"]),
        .executable(name: "rvf-lock", targets: ["rvf-lock"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    targets: [
        // What Glibc does not import into Swift (O_TMPFILE, prctl): see
        // the header for each shim's reason.
        .target(name: "CRVFLockShims"),
        .target(
            name: "RVFLock",
            dependencies: [
                "CRVFLockShims",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "rvf-lock",
            dependencies: [
                "RVFLock",
                "CRVFLockShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        // A worker process for the cross-process tests: contends, holds,
        // tries, and reports what it saw in a form the tests parse.
        .executableTarget(
            name: "rvflock-probe",
            dependencies: [
                "RVFLock",
                "CRVFLockShims",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/RVFLockProbe",
            swiftSettings: strictSettings
        ),
        // The torture harness: many worker processes, injected faults, and a
        // verdict on whether two writers ever overlapped. Not a product.
        .executableTarget(
            name: "rvflock-torture",
            dependencies: [
                "RVFLock",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/RVFLockTorture",
            // The alias reference holder, compiled with rustc at run time around the reference.
            exclude: ["Reference"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RVFLockCLITests",
            dependencies: [
                "rvf-lock",
                "RVFLock",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RVFLockTests",
            dependencies: [
                "RVFLock",
                "rvflock-probe",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
    ]
)
