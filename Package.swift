// swift-tools-version: 6.1
import PackageDescription

let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let yams: Target.Dependency = .product(name: "Yams", package: "Yams")
let inMemoryLogging: Target.Dependency = .product(name: "InMemoryLogging", package: "swift-log")

let package = Package(
    name: "ipsyncd",
    products: [
        .executable(name: "ipsyncd", targets: ["ipsyncd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // Typed shims over libcurl's variadic C API (Swift cannot call curl_easy_setopt directly).
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        // The one POSIX layer (Glibc): whole-file read, write-all, atomic replace with directory fsync, clock.
        .target(name: "Posix"),
        // Lossless nginx config lexer, parser, queries, rewriter, template renderer and unified diff.
        .target(name: "NginxConf"),
        // Kubernetes API client over libcurl: kubeconfig, auth, Service model, ServiceWatcher.
        .target(name: "K8sWatch", dependencies: ["CCurl", "Posix", logging, yams]),
        // The only code that writes the site file or runs commands: stage, check, swap, reload (docs/design.md §6).
        .target(name: "NginxApply", dependencies: ["NginxConf", "Posix", logging]),
        // The daemon's core: config, reconciler, resync, daemon loop, logging, notify, metrics.
        .target(name: "IpsyncdCore", dependencies: ["NginxConf", "NginxApply", "K8sWatch", "Posix", logging, yams]),
        // The CLI: argument parsing only; everything else lives in IpsyncdCore.
        .executableTarget(name: "ipsyncd", dependencies: [
            "IpsyncdCore", "Posix", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: [
            // Smaller peak memory (docs/benchmarks.md, "Levers for the peak"): lld with packed relative
            // relocations (DT_RELR, glibc 2.36+) instead of 1.8 MiB of RELA entries read at every start.
            .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                         .when(configuration: .release)),
        ]),
        // Benchmarks (bench/*.sh drive them; figures go to docs/benchmarks.md).
        .executableTarget(name: "nginxconf-bench", dependencies: ["NginxConf"], path: "bench/NginxConfBench"),
        .executableTarget(name: "k8swatch-bench", dependencies: ["K8sWatch"], path: "bench/K8sWatchBench"),
        // Helpers shared by the test targets: the test API server, a sandboxed nginx, temp dirs.
        .target(name: "TestSupport", dependencies: ["K8sWatch", "Posix", logging, inMemoryLogging], path: "Tests/TestSupport"),
        .testTarget(name: "PosixTests", dependencies: ["Posix", "TestSupport"]),
        .testTarget(name: "NginxConfTests", dependencies: ["NginxConf", "TestSupport"]),
        .testTarget(name: "K8sWatchTests", dependencies: ["K8sWatch", "Posix", "TestSupport", inMemoryLogging]),
        .testTarget(name: "ipsyncdTests", dependencies: ["IpsyncdCore", "NginxApply", "Posix", "TestSupport", "ipsyncd", inMemoryLogging]),
    ]
)
