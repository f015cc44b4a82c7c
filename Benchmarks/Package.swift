// swift-tools-version: 6.2
import PackageDescription

// A package of its own, so that users of the library never resolve or build
// the benchmark tool. See README.md here for why it uses no benchmark framework.

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "RVFLockBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "RVFLock", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // Measures RVFLock against the syscall floors and the reference; its
        // worker processes are this same executable, re-invoked as `worker`.
        .executableTarget(
            name: "rvflock-bench",
            dependencies: [
                .product(name: "RVFLock", package: "RVFLock"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        // The command that the exec-to-exec handoff runs under `rvf-lock exec`
        // and flock(1): stamps its first and last moment. C, so that no Swift
        // start-up sits inside the handoff it measures.
        .executableTarget(
            name: "rvflock-bench-stamp",
            path: "Sources/rvflock-bench-stamp"
        ),
    ]
)
