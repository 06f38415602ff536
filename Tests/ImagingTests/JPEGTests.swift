import Foundation
import Testing
@testable import Imaging

/// JPEG decoding against fixtures Pillow wrote and decoded:
/// `.venv-ref/bin/python tools/make_jpeg_fixtures.py Tests/ImagingTests/Fixtures/jpeg`
/// Pillow decodes with libjpeg-turbo as well (its own 3.2.0 against Debian's 2.1.5 here), with the
/// same accurate integer IDCT and fancy upsampling, so the pixels must agree exactly (the
/// manifest's tolerance is 0 for every file; CMYK too, whose conversion gives Pillow's integers).
@Suite struct JPEGTests {
    struct Entry: Decodable {
        let width: Int?
        let height: Int?
        let tolerance: Int?
    }

    static let folder = FixturePaths.fixtures.appendingPathComponent("jpeg")
    static let manifest: [String: Entry] = {
        let data = try? Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return (try? JSONDecoder().decode([String: Entry].self, from: data ?? Data())) ?? [:]
    }()

    static func bytes(_ name: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: folder.appendingPathComponent(name + ".jpg")))
    }

    @Test func manifestLoads() {
        #expect(Self.manifest.count == 13)
    }

    @Test(arguments: ["baseline_444", "baseline_420", "baseline_422", "progressive_420", "grayscale", "cmyk"])
    func decodesLikePillow(name: String) throws {
        let entry = try #require(Self.manifest[name])
        let width = try #require(entry.width), height = try #require(entry.height)
        let image = try JPEG.read(path: Self.folder.appendingPathComponent(name + ".jpg").path)
        let expected = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent(name + ".rgb")))
        #expect(image.width == width && image.height == height && !image.hasAlpha)
        try #require(image.pixels.count == expected.count)
        let worst = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= entry.tolerance ?? 0, "\(name): max difference \(worst) from Pillow's decode")
        if name == "grayscale" {
            let p = image.pixels
            let grey = stride(from: 0, to: p.count, by: 3).allSatisfy { (i: Int) -> Bool in p[i] == p[i + 1] && p[i] == p[i + 2] }
            #expect(grey, "every pixel of a greyscale JPEG has R = G = B")
        }
    }

    /// A broken file is an error that names the problem, in one line; never a crash, never an
    /// image with grey where the data was missing (which is what libjpeg itself would give).
    @Test(arguments: [
        ("broken_truncated", "truncated JPEG"),
        ("broken_truncated_progressive", "truncated JPEG"),
        ("broken_no_end_marker", "truncated JPEG"),
        ("broken_garbage", "corrupt JPEG"),
        ("broken_huge_declared", "image too large: 60000x60000"),
        ("broken_large_declared", "truncated JPEG: 1714 bytes cannot hold the 8000x8000 image"),
        ("unsupported_arithmetic", "unsupported JPEG (arithmetic-coded"),
    ])
    func refusesBrokenFile(name: String, expected: String) throws {
        let path = Self.folder.appendingPathComponent(name + ".jpg").path
        let error = #expect(throws: JPEGError.self) { try JPEG.read(path: path) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix(path + ": " + expected), "\(text)")
        #expect(!text.contains("\n"))
    }

    @Test func refusesWhatIsNotAJPEG() {
        for bytes: [UInt8] in [[], [0xFF], [0xFF, 0xD8], [0x89, 0x50, 0x4E, 0x47], Array("hello".utf8)] {
            #expect(throws: JPEGError("not a JPEG file (no JPEG signature)")) { try JPEG.decode(bytes) }
        }
        // A signature and nothing more: the header is missing.
        let error = #expect(throws: JPEGError.self) { try JPEG.decode([0xFF, 0xD8, 0xFF]) }
        #expect(error?.description.hasPrefix("truncated JPEG") == true, "\(error?.description ?? "")")
    }

    /// Every prefix of a good file, and a good file with bytes changed, decodes or is refused
    /// with a one-line error: no trap, no grey-filled image from a cut-short file.
    @Test func everyPrefixIsRefusedAndFlippedBytesDoNotCrash() throws {
        for name in ["baseline_420", "progressive_420", "cmyk"] {
            let whole = try Self.bytes(name)
            for cut in 0..<whole.count {
                #expect(throws: JPEGError.self, "\(name) cut at \(cut)") { try JPEG.decode(whole[..<cut]) }
            }
            var rng = SixelSamples.Generator(state: 18)  // seeded: the same bytes change on every run
            for _ in 0..<300 {
                var bytes = whole
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 3..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                do {
                    let image = try JPEG.decode(bytes)
                    #expect(image.pixels.count == image.width * image.height * 3)
                } catch {
                    #expect(!error.description.isEmpty && !error.description.contains("\n"))
                }
            }
        }
    }

    /// The caller's limits (a server's preview can be held to less than a photo) are checked from
    /// the header, before decoding.
    @Test func callersLimitsAreApplied() throws {
        let bytes = try Self.bytes("baseline_444")
        #expect(throws: JPEGError("image too large: 37x23 (the limit is 36 pixels a side and 268435456 pixels in all)")) {
            try JPEG.decode(bytes, maxSide: 36)
        }
        #expect(throws: JPEGError("image too large: 37x23 (the limit is 32768 pixels a side and 850 pixels in all)")) {
            try JPEG.decode(bytes, maxPixels: 850)
        }
        #expect(try JPEG.decode(bytes, maxSide: 37, maxPixels: 37 * 23).width == 37)
        #expect(throws: JPEGError.self) { try JPEG.decode(bytes, maxSide: -1, maxPixels: Int.min) }
    }

    @Test func readNamesTheFileItCannotOpen() {
        let path = "/nonexistent/stipple-\(getpid()).jpg"
        let error = #expect(throws: JPEGError.self) { try JPEG.read(path: path) }
        #expect(error?.description.contains(path) == true)
    }

    @Test func libraryVersionIsLibjpegTurbo2OrLater() {
        let major = Int(JPEG.libraryVersion.split(separator: ".").first ?? "") ?? 0
        #expect(major >= 2, "\(JPEG.libraryVersion)")
    }
}

/// Telling PNG from JPEG by their first bytes, whatever the file is called.
@Suite struct ImageFileTests {
    @Test func decodesPNGAndJPEGAlike() throws {
        let jpegPath = JPEGTests.folder.appendingPathComponent("baseline_444.jpg").path
        #expect(try ImageFile.read(path: jpegPath) == JPEG.read(path: jpegPath))
        let pngPath = FixturePaths.fixtures.appendingPathComponent("png/rgba8.png").path
        #expect(try ImageFile.read(path: pngPath) == PNG.read(path: pngPath).image)
        // A JPEG named .png (browsers save them so) is still decoded as what it is.
        let misnamed = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-jpeg-\(getpid()).png").path
        try Data(JPEGTests.bytes("grayscale")).write(to: URL(fileURLWithPath: misnamed))
        defer { unlink(misnamed) }
        #expect(try ImageFile.read(path: misnamed).width == 37)
    }

    @Test func formatsAreToldByMagicBytes() {
        #expect(ImageFormat(of: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(ImageFormat(of: [0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(ImageFormat(of: [0xFF, 0xD8]) == nil)
        #expect(ImageFormat(of: [UInt8]()) == nil)
    }

    @Test func otherFilesAreRefusedByWhatTheyAre() {
        let webp = Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBPVP8 ".utf8)
        #expect(throws: ImageFileError("not a PNG or JPEG file (a WebP image)")) { try ImageFile.decode(webp) }
        #expect(throws: ImageFileError("not a PNG or JPEG file (a GIF image)")) { try ImageFile.decode(Array("GIF89a".utf8)) }
        #expect(throws: ImageFileError("not a PNG or JPEG file")) { try ImageFile.decode([UInt8]()) }
        #expect(throws: ImageFileError("not a PNG or JPEG file")) { try ImageFile.decode(Array("RIFF".utf8)) }
    }

    @Test func errorsComeFromTheFormatsDecoderAndNameTheFile() throws {
        let path = JPEGTests.folder.appendingPathComponent("broken_truncated.jpg").path
        let error = #expect(throws: ImageFileError.self) { try ImageFile.read(path: path) }
        #expect(error?.description.hasPrefix("\(path): truncated JPEG") == true, "\(error?.description ?? "")")
    }
}
