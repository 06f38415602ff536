import Foundation

/// Where the test fixtures and the repository's sample files are.
enum FixturePaths {
    /// Tests/ImagingTests/Fixtures, as copied into the test bundle.
    static var fixtures: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }

    /// The package root (three levels above this file).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A file under samples/ of the package.
    static func sample(_ relativePath: String) -> URL {
        packageRoot.appendingPathComponent("samples").appendingPathComponent(relativePath)
    }
}
