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

// The torture harness and the benchmark tool: programs that drive the library from
// many processes of their own, and the reference's from rustc.
let harnessDependencies: [Target.Dependency] = [
    "RVFLock",
    "RVFLockSpawn",
    "RVFLockReference",
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
    .product(name: "SystemPackage", package: "swift-system"),
]

let package = Package(
    name: "RVFLock",
    products: [
        .library(name: "RVFLock", targets: ["RVFLock"]),
        .executable(name: "rvf-lock", targets: ["rvf-lock"]),
        // The writer lock for writers on several machines: a lease on etcd beside
        // the lock file. A product of its own, so that users of RVFLock build no
        // networking code, and `rvf-lock` links none (it starts rvf-lock-etcd).
        .library(name: "RVFLockEtcd", targets: ["RVFLockEtcd"]),
        .executable(name: "rvf-lock-etcd", targets: ["rvf-lock-etcd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // RVFLockEtcd only: etcd's JSON gateway over HTTP (see the RVFLockEtcd article for why not gRPC).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // async-http-client's own dependency, named to turn its per-request spans off when no tracer listens.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
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
        .target(name: "CRVFLockCommandShims"),
        // The one way the package's programs and tests start a process (posix_spawn). Not a product.
        .target(
            name: "RVFLockSpawn",
            dependencies: [.product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: strictSettings
        ),
        // What rvf-lock and rvf-lock-etcd share: exit statuses, the failure that
        // ends a command, standard error and output, JSON strings. Not a product.
        .target(
            name: "RVFLockCommandLine",
            dependencies: [
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        // The checks of `rvf-lock selftest`: probes of the file system, the contention
        // run and its verifier, the report. A target of its own, so that the verifier is
        // tested without reaching into the tool. Not a product.
        .target(
            name: "RVFLockSelftest",
            dependencies: [
                "RVFLock",
                "RVFLockSpawn",
                "RVFLockCommandLine",
                "CRVFLockShims",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "rvf-lock",
            dependencies: [
                "RVFLock",
                "RVFLockCommandLine",
                "RVFLockSelftest",
                "RVFLockSpawn",
                "CRVFLockShims",
                "CRVFLockCommandShims",
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
            dependencies: harnessDependencies,
            path: "Sources/RVFLockTorture",
            swiftSettings: strictSettings
        ),
        // Builds the Rust programs around the reference implementation (seed/locking.rs) that
        // the interop tests, the torture harness and the benchmarks run. Not a product.
        .target(
            name: "RVFLockReference",
            dependencies: [
                "RVFLockSpawn",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            // The Rust sources, compiled with rustc at run time around the reference.
            exclude: ["Rust"],
            swiftSettings: strictSettings
        ),
        // The benchmarks: RVFLock against the system-call floors, kernel flock(2), flock(1)
        // and the reference; its worker processes are this same executable, re-invoked as
        // `worker`. Not a product: Scripts/bench.sh builds and runs it.
        .executableTarget(
            name: "rvflock-bench",
            dependencies: harnessDependencies,
            path: "Sources/RVFLockBench",
            swiftSettings: strictSettings
        ),
        // The command that the benchmarks' exec-to-exec handoff runs under `rvf-lock exec`
        // and flock(1): stamps its first and last moment. C, so that no Swift start-up sits
        // inside the handoff it measures.
        .executableTarget(
            name: "rvflock-bench-stamp",
            path: "Sources/RVFLockBenchStamp"
        ),
        .target(
            name: "RVFLockEtcd",
            dependencies: [
                "RVFLock",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strictSettings
        ),
        // For rvf-lock-etcd alone: the concurrency runtime's global-executor hook, and a
        // constructor that allocates the program's zeroed data at once (prefault.c).
        .target(name: "CRVFLockEtcdShims"),
        // `rvf-lock exec --etcd` and `rvf-lock status --etcd` start this program, so
        // that rvf-lock itself stays free of the networking stack (and of its start-up cost).
        .executableTarget(
            name: "rvf-lock-etcd",
            dependencies: [
                "CRVFLockEtcdShims",
                "RVFLock",
                "RVFLockCommandLine",
                "RVFLockEtcd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // What the test targets share: running a program to its end, and what this
        // machine lets a test do (mount, drop privileges). Not a product.
        .target(
            name: "RVFLockTestSupport",
            dependencies: [
                "RVFLockSpawn",
                "RVFLockReference",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Tests/RVFLockTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RVFLockCLITests",
            dependencies: [
                "RVFLockTestSupport",
                "rvf-lock",
                "RVFLock",
                "RVFLockSelftest",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RVFLockTests",
            dependencies: [
                "RVFLockTestSupport",
                "RVFLockSpawn",
                "RVFLockReference",
                "RVFLock",
                "rvflock-probe",
                // For the reference's view of a killed `rvf-lock exec`'s command (ReferenceInteropTests+Exec).
                "rvf-lock",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        // Real etcd members started by the tests (skipped, with the reason, where
        // etcd is not installed), real writer processes, namespaces as machines.
        .testTarget(
            name: "RVFLockEtcdTests",
            dependencies: [
                "RVFLockTestSupport",
                "RVFLock",
                "RVFLockEtcd",
                "rvf-lock",
                "rvf-lock-etcd",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
