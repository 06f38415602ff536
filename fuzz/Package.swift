// swift-tools-version: 5.4
// Fuzz targets for stipple's parsers (issue 12). One executable per parser, each exporting
// libFuzzer's `LLVMFuzzerTestOneInput`; libFuzzer supplies `main`. Build and run with
// tools/fuzz.sh, which passes -sanitize=fuzzer,address -parse-as-library.
//
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames a Swift executable's entry point to
// `<module>_main` and links with `--defsym main=<module>_main`, which fails for a module without
// a main (libFuzzer's own `main` is the entry point here).
import PackageDescription

let package = Package(
    name: "stipple-fuzz",
    dependencies: [
        .package(name: "stipple", path: ".."),
    ],
    targets: [
        .target(name: "FuzzSupport", path: "Sources/FuzzSupport"),
        .executableTarget(name: "fuzz-safetensors", dependencies: [
            "FuzzSupport", .product(name: "StippleDiffusion", package: "stipple"),
        ], path: "Sources/fuzz-safetensors"),
        .executableTarget(name: "fuzz-png", dependencies: [
            "FuzzSupport", .product(name: "StippleImaging", package: "stipple"),
        ], path: "Sources/fuzz-png"),
        .executableTarget(name: "fuzz-jpeg", dependencies: [
            "FuzzSupport", .product(name: "StippleImaging", package: "stipple"),
        ], path: "Sources/fuzz-jpeg"),
        .executableTarget(name: "fuzz-image-texts", dependencies: [
            "FuzzSupport", .product(name: "StippleImaging", package: "stipple"),
        ], path: "Sources/fuzz-image-texts"),
        .executableTarget(name: "fuzz-infotext", dependencies: [
            "FuzzSupport", .product(name: "StippleDiffusion", package: "stipple"),
        ], path: "Sources/fuzz-infotext"),
        .executableTarget(name: "fuzz-metadata", dependencies: [
            "FuzzSupport", .product(name: "StippleDiffusion", package: "stipple"),
        ], path: "Sources/fuzz-metadata"),
        .executableTarget(name: "fuzz-prompt-syntax", dependencies: [
            "FuzzSupport", .product(name: "StippleDiffusion", package: "stipple"),
        ], path: "Sources/fuzz-prompt-syntax"),
        .executableTarget(name: "fuzz-tokenizer", dependencies: [
            "FuzzSupport", .product(name: "StippleDiffusion", package: "stipple"),
        ], path: "Sources/fuzz-tokenizer"),
        .executableTarget(name: "fuzz-config", dependencies: [
            "FuzzSupport", .product(name: "StippleStudio", package: "stipple"),
        ], path: "Sources/fuzz-config"),
        .executableTarget(name: "fuzz-settings", dependencies: [
            "FuzzSupport", .product(name: "StippleStudio", package: "stipple"), .product(name: "StippleDiffusion", package: "stipple"),
        ], path: "Sources/fuzz-settings"),
        .executableTarget(name: "fuzz-terminal-replies", dependencies: [
            "FuzzSupport", .product(name: "StippleTerminal", package: "stipple"),
        ], path: "Sources/fuzz-terminal-replies"),
        .executableTarget(name: "fuzz-keys", dependencies: [
            "FuzzSupport", .product(name: "StippleTerminal", package: "stipple"),
        ], path: "Sources/fuzz-keys"),
    ]
)
