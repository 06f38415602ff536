// swift-tools-version: 6.0
// stipple: an interactive terminal studio for latent diffusion. See README.md and docs/.
import PackageDescription

let package = Package(
    name: "stipple",
    products: [
        .executable(name: "stipple", targets: ["stipple"]),
        // Libraries for other packages on disk (the fuzz targets in fuzz/ import these).
        .library(name: "StippleDiffusion", targets: ["Diffusion"]),
        .library(name: "StippleImaging", targets: ["Imaging"]),
        .library(name: "StippleTerminal", targets: ["Terminal"]),
        .library(name: "StippleStudio", targets: ["Studio"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // Remote backends (ComfyUI, A1111): HTTP and WebSocket on SwiftNIO (see docs/DECISIONS.md).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        // Named for the products Remote imports directly (all are already AsyncHTTPClient's).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // System libraries: module map + shim header, found through pkg-config.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CNcursesw", pkgConfig: "ncursesw", providers: [.apt(["libncursesw5-dev"])]),
        // libpng reports errors with longjmp, which must never cross a Swift frame:
        // this small C target owns every libpng call (see docs/DECISIONS.md). It also inflates
        // gzip through zlib (which libpng links anyway) for stealth texts in pixels.
        .target(name: "PNGBridge", dependencies: ["CPNG"], linkerSettings: [.linkedLibrary("z")]),
        // libjpeg-turbo reports errors through error_exit, which must not return (we longjmp):
        // this C target owns every libjpeg call, as PNGBridge does libpng's.
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .target(name: "JPEGBridge", dependencies: ["CJPEG"]),

        // Opening the files a user names: regular files only, never blocking on a FIFO.
        .target(name: "UserFiles"),
        // The thread setting and the one parallel-for (Tensor re-exports it; Imaging uses it too).
        .target(name: "Parallel"),
        // Finding the files stipple ships (themes, the bundled model, CLIP merges) wherever it is installed.
        .target(name: "ShippedFiles"),
        // The escape sequences stipple writes, named once (Terminal re-exports it; Imaging uses it too).
        .target(name: "TerminalBytes"),
        // Kernels in C with variants per instruction set, chosen at run time (never -march flags).
        .target(name: "CKernels"),
        .target(name: "Tensor", dependencies: ["CBLAS", "CKernels", "Parallel"]),
        .target(
            name: "Diffusion",
            dependencies: ["CKernels", "Tensor", "Parallel", "ShippedFiles", "UserFiles"],
            exclude: ["Tokenizer/Resources/README.md"],
            resources: [.copy("Tokenizer/Resources/bpe_simple_vocab_16e6.txt")]
        ),
        .target(name: "Imaging", dependencies: ["PNGBridge", "JPEGBridge", "Parallel", "TerminalBytes", "UserFiles"]),
        .target(name: "Terminal", dependencies: ["CNcursesw", "TerminalBytes", "UserFiles"]),
        .target(name: "Studio", dependencies: [
            "Diffusion", "Imaging", "Parallel", "Remote", "ShippedFiles", "Terminal", "UserFiles",
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // Generating on a ComfyUI or A1111 server: transport (HTTP, WebSocket) and the protocols.
        .target(name: "Remote", dependencies: [
            "Diffusion", "Imaging", "Terminal", "UserFiles",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(
            name: "stipple",
            dependencies: [
                "Diffusion", "Imaging", "Parallel", "Remote", "Terminal", "Studio", "UserFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "SystemLibraryTests", dependencies: ["CBLAS", "CPNG", "CNcursesw"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "CKernels"]),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "Imaging", "CKernels"], exclude: ["Fixtures"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "Parallel"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TerminalTests", dependencies: ["Terminal"], resources: [.copy("Fixtures")]),
        .testTarget(name: "StudioTests", dependencies: ["Studio", "Diffusion", "Imaging", "ShippedFiles"], exclude: ["Fixtures"]),
        .testTarget(name: "UserFilesTests", dependencies: ["UserFiles"]),
        .testTarget(name: "RemoteTests", dependencies: ["Remote", "Diffusion", "Imaging", "Studio"], exclude: ["Fixtures"]),
        // The studio with a deliberate runtime error after its first frame, for the end-to-end test
        // that the terminal survives one (built with everything; not a product, never installed).
        .executableTarget(name: "StudioTrapHarness", dependencies: ["Studio", "Diffusion", "Terminal"],
                          path: "Tests/StudioTrapHarness"),
    ]
)
