import Foundation
import Testing
@testable import Imaging

/// PNG decoding against fixtures written by independent encoders (pypng, Pillow):
/// `.venv-tools/bin/python tools/make_png_fixtures.py Tests/ImagingTests/Fixtures/png`
@Suite struct PNGTests {
    struct Entry: Decodable {
        let width: Int
        let height: Int
        let hasAlpha: Bool
        let texts: [String: String]?
    }

    static let folder = FixturePaths.fixtures.appendingPathComponent("png")
    static let manifest: [String: Entry] = {
        let data = try? Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return (try? JSONDecoder().decode([String: Entry].self, from: data ?? Data())) ?? [:]
    }()

    @Test func manifestLoads() {
        #expect(Self.manifest.count == 17)
    }

    @Test(arguments: [
        "grey1", "grey2", "grey4", "grey8", "grey16", "grey_alpha8", "grey_alpha16",
        "rgb8", "rgb16", "rgba8", "rgba16", "rgb8_interlaced", "rgba16_interlaced",
        "palette4", "palette8_trns", "rgb8_trns", "text_chunks",
    ])
    func decodesVariant(name: String) throws {
        let entry = try #require(Self.manifest[name])
        let file = try PNG.read(path: Self.folder.appendingPathComponent(name + ".png").path)
        let expected = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent(name + ".rgba")))
        #expect(file.image.width == entry.width)
        #expect(file.image.height == entry.height)
        #expect(file.image.hasAlpha == entry.hasAlpha)
        var worst = 0
        for y in 0..<entry.height {
            for x in 0..<entry.width {
                let p = file.image.pixel(x: x, y: y)
                let e = expected[(y * entry.width + x) * 4 ..< (y * entry.width + x) * 4 + 4].map(Int.init)
                worst = max(worst, abs(Int(p.r) - e[0]), abs(Int(p.g) - e[1]), abs(Int(p.b) - e[2]), abs(Int(p.a) - e[3]))
            }
        }
        #expect(worst == 0, "\(name): max difference \(worst)")
    }

    @Test func readsTextChunksOfEveryKind() throws {
        let file = try PNG.read(path: Self.folder.appendingPathComponent("text_chunks.png").path)
        let expected = try #require(Self.manifest["text_chunks"]?.texts)
        for (key, value) in expected {
            #expect(file.text(key) == value, "text chunk \(key)")
        }
    }

    /// `stipple info` reads every text, also those some tools append after the image data,
    /// without decoding pixels: the same texts as a full read.
    @Test func allTextsReadFindsTextsAfterTheImageData() throws {
        let chunk = PNGChunkBytes.chunk
        var bytes = try PNG.encode(RGBImage(width: 3, height: 2), texts: [PNGText(key: "before", value: "1")])
        bytes.removeLast(12)  // IEND
        bytes += chunk("tEXt", Array("parameters".utf8) + [0] + Array("a cat\nSteps: 20".utf8))
        bytes += chunk("IEND", [])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-after-\(getpid()).png").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let full = try PNG.read(path: path)
        #expect(full.texts.map(\.key) == ["before", "parameters"])
        let all = try PNG.readAllTexts(path: path)
        #expect(all.width == 3 && all.height == 2 && all.texts == full.texts)
        #expect(try PNG.readHeader(path: path).texts.map(\.key) == ["before"])
        // A file without later texts reads as readHeader reads it; a broken one is still an error.
        let plain = Self.folder.appendingPathComponent("text_chunks.png").path
        #expect(try PNG.readAllTexts(path: plain).texts == PNG.read(path: plain).texts)
        #expect(throws: PNGError.self) { try PNG.readAllTexts(path: Self.folder.appendingPathComponent("broken_not_png.png").path) }
    }

    @Test func headerReadGivesSizeAndTextsWithoutPixels() throws {
        let path = Self.folder.appendingPathComponent("text_chunks.png").path
        let header = try PNG.readHeader(path: path)
        let full = try PNG.read(path: path)
        #expect(header.width == full.image.width && header.height == full.image.height)
        // The fixture's texts all precede its image data, so the header read finds every one.
        #expect(header.texts == full.texts)
        #expect(!header.texts.isEmpty)
        let written = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-header-\(getpid()).png")
        defer { try? FileManager.default.removeItem(at: written) }
        let texts = [PNGText(key: "parameters", value: "a cat\nSteps: 20, Seed: 7"), PNGText(key: "prompt", value: "{\"猫\": 1}")]
        try Data(PNG.encode(RGBImage(width: 5, height: 3), texts: texts)).write(to: written)
        let ours = try PNG.readHeader(path: written.path)
        #expect(ours.width == 5 && ours.height == 3 && ours.texts == texts)
        #expect(throws: PNGError.self) { try PNG.readHeader(path: "/nonexistent/x.png") }
    }

    @Test func roundTripsPixelsAndText() throws {
        var pixels = [UInt8](repeating: 0, count: 37 * 23 * 4)
        var state: UInt32 = 12345
        for i in pixels.indices {
            state = state &* 1_664_525 &+ 1_013_904_223
            pixels[i] = UInt8(truncatingIfNeeded: state >> 24)
        }
        let image = RGBImage(width: 37, height: 23, hasAlpha: true, pixels: pixels)
        let texts = [
            PNGText(key: "parameters", value: "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Seed: 1"),
            PNGText(key: "Comment", value: "naïve café"),            // Latin-1: tEXt
            PNGText(key: "prompt", value: "{\"猫\": \"✨\"}"),          // beyond Latin-1: iTXt
            PNGText(key: "empty", value: ""),
        ]
        let bytes = try PNG.encode(image, texts: texts)
        let decoded = try PNG.decode(bytes)
        #expect(decoded.image == image)
        #expect(decoded.texts == texts)

        let rgb = image.flattened()
        #expect(try PNG.decode(PNG.encode(rgb, compressionLevel: 1)).image == rgb)
    }

    @Test func writesLatin1AsTEXtAndOtherTextAsITXt() throws {
        let image = RGBImage(width: 2, height: 2)
        let bytes = try PNG.encode(image, texts: [PNGText(key: "a", value: "é"), PNGText(key: "b", value: "猫")])
        let chunks = chunkTypes(bytes)
        #expect(chunks == ["IHDR", "tEXt", "iTXt", "IDAT", "IEND"])
    }

    @Test(arguments: [
        ("broken_truncated", "truncated"),
        ("broken_not_png", "not a PNG file"),
        ("broken_empty", "not a PNG file"),
        ("broken_zero_width", "width is zero"),
        ("broken_huge", "too large"),
        ("broken_bad_crc", "corrupt PNG (IHDR: CRC error)"),
        ("broken_idat", "corrupt PNG (IDAT"),
    ])
    func refusesBrokenFiles(name: String, phrase: String) {
        let path = Self.folder.appendingPathComponent(name + ".png").path
        do {
            _ = try PNG.read(path: path)
            Issue.record("\(name) decoded without an error")
        } catch {
            #expect(error.description.hasPrefix(path + ": "))
            #expect(error.description.contains(phrase), "\(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func namesMissingFiles() {
        #expect(throws: PNGError("/nonexistent/x.png: no such file")) { try PNG.read(path: "/nonexistent/x.png") }
        #expect(throws: PNGError("/tmp: is not a regular file (a folder)")) { try PNG.read(path: "/tmp") }
    }

    @Test func refusesBadKeywords() {
        let image = RGBImage(width: 1, height: 1)
        #expect(throws: PNGError.self) { try PNG.encode(image, texts: [PNGText(key: "", value: "x")]) }
        #expect(throws: PNGError.self) { try PNG.encode(image, texts: [PNGText(key: String(repeating: "k", count: 80), value: "x")]) }
        #expect(throws: PNGError.self) { try PNG.encode(image, texts: [PNGText(key: "ok", value: "nul\u{0}inside")]) }
    }

    private func chunkTypes(_ bytes: [UInt8]) -> [String] {
        var types: [String] = []
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            types.append(String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self))
            offset += 12 + length
        }
        return types
    }
}
