// swift-tools-version: 6.2
import PackageDescription

// A nested package so that users of RVFLock never resolve or build the fuzzer.
// Build with libFuzzer (see Scripts/fuzz.sh):
//   swift build -c release --package-path Fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library

// SwiftPM names a path dependency after its directory, so the root package's
// identity is whatever the checkout is called ("main", "RVFLock", ...).
let rootPackageIdentity = String(
    Context.packageDirectory.split(separator: "/").dropLast().last ?? "RVFLock"
)

let package = Package(
    name: "RVFLockFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver, which Glibc does not.
        .target(name: "CFuzzerDriver"),
        // The libFuzzer target: the record decoder and the staleness judgement on arbitrary bytes.
        .executableTarget(
            name: "rvflock-fuzz",
            dependencies: [
                "CFuzzerDriver",
                .product(name: "RVFLock", package: rootPackageIdentity),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/RVFLockFuzz",
            swiftSettings: [
                .swiftLanguageMode(.v6),
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        )
    ]
)
