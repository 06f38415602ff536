import Foundation
import Testing
@testable import Imaging

/// The sixel encoder, checked by decoding its streams with `SixelDecoder` (and `sixel2png` when installed).
@Suite struct SixelTests {
    // MARK: Stream structure

    @Test func streamIsFramedAsDocumented() throws {
        let image = SixelSamples.randomImage(width: 9, height: 8, colors: SixelSamples.representableColors(count: 5, seed: 1), seed: 2)
        let stream = SixelEncoder().encode(image)
        let head = Array("\u{1B}P0;1;0q\"1;1;9;8".utf8)
        #expect(Array(stream.prefix(head.count)) == head)
        #expect(Array(stream.suffix(2)) == [0x1B, UInt8(ascii: "\\")])
        #expect(stream[stream.count - 3] != UInt8(ascii: "-"), "no graphics new line after the last band")
        let decoded = try SixelDecoder.decode(stream)
        #expect(decoded.parameters == [0, 1, 0])
        #expect(!decoded.endsWithNewLine)
        #expect(decoded.undefinedRegistersUsed.isEmpty)
    }

    @Test(arguments: [(1, 1), (1, 7), (7, 1), (13, 11), (5, 6), (5, 12), (5, 13), (64, 1), (3, 100)])
    func exactColorsRoundTripAtAnySize(size: (width: Int, height: Int)) throws {
        let colors = SixelSamples.representableColors(count: 40, seed: UInt64(size.width * 1000 + size.height))
        let image = SixelSamples.randomImage(width: size.width, height: size.height, colors: colors, seed: 7)
        let stream = SixelEncoder().encode(image)
        let decoded = try SixelDecoder.decode(stream)
        #expect(decoded.raster == [1, 1, size.width, size.height])
        #expect(decoded.image == SixelSamples.rgba(image))
        #expect(!decoded.endsWithNewLine)
    }

    @Test func all256RepresentableColorsSurviveExactly() throws {
        let colors = SixelSamples.representableColors(count: 256, seed: 3)
        // Every colour at least once, then random ones.
        var image = SixelSamples.randomImage(width: 40, height: 23, colors: colors, seed: 4)
        for (i, c) in colors.enumerated() {
            image.pixels[i * 3] = c.r
            image.pixels[i * 3 + 1] = c.g
            image.pixels[i * 3 + 2] = c.b
        }
        let decoded = try SixelDecoder.decode(SixelEncoder().encode(image))
        #expect(decoded.definedRegisters.count == 256)
        #expect(decoded.image == SixelSamples.rgba(image))
    }

    @Test func onlyUsedRegistersAreDefined() throws {
        let palette = Palette(SixelSamples.representableColors(count: 10, seed: 5))
        let used = [palette[2], palette[7], palette[9]]
        let image = SixelSamples.randomImage(width: 17, height: 9, colors: used, seed: 6)
        let stream = SixelEncoder().encode(image, palette: palette)
        let decoded = try SixelDecoder.decode(stream)
        #expect(decoded.definedRegisters == [0, 1, 2])
        #expect(decoded.image == SixelSamples.rgba(image))
    }

    @Test func manyColorsStayWithin256Registers() throws {
        let image = SixelSamples.gradient(width: 120, height: 70)
        let decoded = try SixelDecoder.decode(SixelEncoder().encode(image))
        #expect(decoded.definedRegisters.count <= 256)
        #expect(decoded.definedRegisters.count > 200)
        #expect(decoded.undefinedRegistersUsed.isEmpty)
        #expect(decoded.definedRegisters == Set(0..<decoded.definedRegisters.count))
    }

    @Test func fewerRegistersWhenAsked() throws {
        let image = SixelSamples.gradient(width: 50, height: 40)
        for maxColors in [2, 3, 16, 255] {
            let decoded = try SixelDecoder.decode(SixelEncoder(settings: .init(maxColors: maxColors)).encode(image))
            #expect(decoded.definedRegisters.count <= maxColors)
            #expect(decoded.definedRegisters.count >= min(maxColors, 2))
        }
    }

    // MARK: Transparency

    @Test func transparentPixelsStayUnpainted() throws {
        let colors = SixelSamples.representableColors(count: 12, seed: 8)
        let image = SixelSamples.randomImage(width: 21, height: 14, colors: colors, seed: 9, alpha: true)
        let decoded = try SixelDecoder.decode(SixelEncoder().encode(image))
        #expect(decoded.image == SixelSamples.rgba(image))
        #expect(decoded.image.pixels.enumerated().contains { $0.offset % 4 == 3 && $0.element == 0 })
    }

    @Test func fullyTransparentImageIsAnEmptyPicture() throws {
        let image = RGBImage(width: 7, height: 13, hasAlpha: true, pixels: [UInt8](repeating: 0, count: 7 * 13 * 4))
        let decoded = try SixelDecoder.decode(SixelEncoder().encode(image))
        #expect(decoded.raster == [1, 1, 7, 13])
        #expect(decoded.image.width == 7 && decoded.image.height == 13)
        #expect(decoded.image.pixels.allSatisfy { $0 == 0 })
        #expect(!decoded.endsWithNewLine)
    }

    // MARK: Photos and gradients

    /// The 512x512 sample photo: the stream decodes to exactly the mapped image, and close to the photo.
    /// Measured (release): 38.0 dB; img2sixel with default settings reaches 31.5 dB on the same file
    /// (`img2sixel astronaut.png | sixel2png`, PSNR against the PNG).
    @Test func photoDecodesToItsMappingAndStaysClose() throws {
        let image = try SixelSamples.astronaut()
        let encoder = SixelEncoder()
        let palette = encoder.palette(for: image)
        #expect(palette.count <= 256)
        let mapped = PaletteMapper(palette: palette).map(image)
        let stream = encoder.encode(image)
        #expect(stream == encoder.encode(mapped))
        let decoded = try SixelDecoder.decode(stream)
        #expect(decoded.raster == [1, 1, 512, 512])
        #expect(decoded.image == mapped.rgba())
        #expect(SixelSamples.psnr(decoded.image, image) > 36)
    }

    @Test(arguments: Dither.allCases) func gradientDecodesToItsMapping(dither: Dither) throws {
        let image = SixelSamples.gradient(width: 97, height: 61)
        let encoder = SixelEncoder(settings: .init(dither: dither))
        let palette = encoder.palette(for: image)
        let mapped = PaletteMapper(palette: palette).map(image, dither: dither)
        let decoded = try SixelDecoder.decode(encoder.encode(image))
        #expect(decoded.image == mapped.rgba())
        #expect(SixelSamples.psnr(decoded.image, image) > 30)
    }

    @Test func ditheringSmoothsAFewColorGradient() throws {
        // 8x8 block means follow the gradient better with dithering than without.
        let image = SixelSamples.gradient(width: 96, height: 64)
        let palette = PaletteQuantizer(maxColors: 8).palette(for: image)
        func blockError(_ dither: Dither) -> Double {
            let mapped = PaletteMapper(palette: palette).map(image, dither: dither).rgba()
            return SixelSamples.blockMeanError(mapped, image, block: 8)
        }
        let plain = blockError(.none)
        #expect(blockError(.ordered) < plain)
        #expect(blockError(.diffusion) < plain)
    }

    // MARK: Frame stability

    @Test func orderedDitheringIsPositionStable() throws {
        let frame = SixelSamples.gradient(width: 80, height: 48)
        let encoder = SixelEncoder(settings: .init(maxColors: 16, dither: .ordered))
        let palette = encoder.palette(for: frame)
        #expect(encoder.encode(frame, palette: palette) == encoder.encode(frame, palette: palette))
        #expect(encoder.encode(frame) == encoder.encode(frame))

        var changed = frame
        let patch = (x: 30..<38, y: 10..<17)
        for y in patch.y {
            for x in patch.x {
                changed.pixels[(y * frame.width + x) * 3] = 250
                changed.pixels[(y * frame.width + x) * 3 + 1] = 20
            }
        }
        let before = try SixelDecoder.decode(encoder.encode(frame, palette: palette)).image
        let after = try SixelDecoder.decode(encoder.encode(changed, palette: palette)).image
        var differing = 0
        for y in 0..<frame.height {
            for x in 0..<frame.width where before.pixel(x: x, y: y) != after.pixel(x: x, y: y) {
                #expect(patch.x.contains(x) && patch.y.contains(y), "pixel (\(x), \(y)) changed outside the patch")
                differing += 1
            }
        }
        #expect(differing > 0)
    }

    // MARK: Against libsixel

    @Test(.enabled(if: SixelSamples.sixel2png != nil, "needs sixel2png (Debian libsixel-bin)"),
          arguments: Dither.allCases)
    func sixel2pngDecodesTheSamePicture(dither: Dither) throws {
        let image = SixelSamples.gradient(width: 75, height: 43)
        let stream = SixelEncoder(settings: .init(dither: dither)).encode(image)
        let ours = try SixelDecoder.decode(stream).image
        let theirs = try #require(try SixelSamples.decodeWithSixel2png(stream))
        #expect(theirs.width == ours.width && theirs.height == ours.height)
        #expect(theirs.flattened() == ours.flattened())
    }

    // MARK: The test decoder itself

    @Test func decoderReadsRepeatsReturnsAndHLS() throws {
        // #0 blue, #1 red, #2 green in DEC HLS; row 0..5 of column 0 blue, then 3 red columns of the
        // top pixel, back to the start, green bottom pixel under column 1, next band one grey pixel.
        let text = "\u{1B}P0;1;0q\"1;1;4;7#0;1;0;50;100#1;1;120;50;100#2;1;240;50;100#3;2;50;50;50"
            + "#0~#1!3@$#2?_-#3@\u{1B}\\"
        let decoded = try SixelDecoder.decode(Array(text.utf8))
        let image = decoded.image
        #expect(image.width == 4 && image.height == 7)
        #expect(image.pixel(x: 0, y: 5) == (0, 0, 255, 255))
        #expect(image.pixel(x: 2, y: 0) == (255, 0, 0, 255))
        #expect(image.pixel(x: 1, y: 5) == (0, 255, 0, 255))
        #expect(image.pixel(x: 2, y: 5) == (0, 0, 0, 0))
        #expect(image.pixel(x: 0, y: 6) == (128, 128, 128, 255))
        #expect(decoded.definedRegisters == [0, 1, 2, 3])
    }
}

/// Images and measurements shared by the sixel tests.
enum SixelSamples {
    /// A SplitMix64 generator: fixed seeds give the same images everywhere.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// `count` distinct colours whose channels a percent register represents exactly.
    static func representableColors(count: Int, seed: UInt64) -> [Palette.Color] {
        var random = Generator(state: seed)
        var seen = Set<Palette.Color>()
        var colors: [Palette.Color] = []
        while colors.count < count {
            let c = Palette.Color(r: Palette.value(ofPercent: Int.random(in: 0...100, using: &random)),
                                  g: Palette.value(ofPercent: Int.random(in: 0...100, using: &random)),
                                  b: Palette.value(ofPercent: Int.random(in: 0...100, using: &random)))
            if seen.insert(c).inserted { colors.append(c) }
        }
        return colors
    }

    /// An image of pixels drawn from `colors`; with `alpha`, about a quarter of them transparent
    /// (alpha below 128) and the rest with alpha 128...255.
    static func randomImage(width: Int, height: Int, colors: [Palette.Color], seed: UInt64, alpha: Bool = false) -> RGBImage {
        var random = Generator(state: seed)
        var pixels: [UInt8] = []
        for _ in 0..<(width * height) {
            let c = colors.randomElement(using: &random).unsafelyUnwrapped
            pixels += [c.r, c.g, c.b]
            if alpha {
                pixels.append(Int.random(in: 0..<4, using: &random) == 0 ? UInt8.random(in: 0..<128, using: &random)
                                                                           : UInt8.random(in: 128...255, using: &random))
            }
        }
        return RGBImage(width: width, height: height, hasAlpha: alpha, pixels: pixels)
    }

    /// A smooth image with thousands of colours: two linear ramps and a slow wave.
    static func gradient(width: Int, height: Int) -> RGBImage {
        var pixels: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                let u = Double(x) / Double(max(width - 1, 1)), v = Double(y) / Double(max(height - 1, 1))
                pixels.append(UInt8((255 * u).rounded()))
                pixels.append(UInt8((255 * v).rounded()))
                pixels.append(UInt8((127.5 + 127.5 * sin(6 * u + 3 * v)).rounded()))
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The package root, found from this file's path.
    static func packageRoot(from file: String = #filePath) -> URL? {
        var url = URL(fileURLWithPath: file).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return nil
    }

    /// samples/images/astronaut.png, the 512x512 sample photo.
    static func astronaut() throws -> RGBImage {
        let root = try #require(packageRoot())
        return try PNG.read(path: root.appendingPathComponent("samples/images/astronaut.png").path).image
    }

    /// `image` as RGBA the way a sixel shows it: pixels with alpha below 128 become (0, 0, 0, 0), others opaque.
    static func rgba(_ image: RGBImage) -> RGBImage {
        var out = [UInt8](repeating: 0, count: image.width * image.height * 4)
        for y in 0..<image.height {
            for x in 0..<image.width {
                let p = image.pixel(x: x, y: y)
                guard p.a >= 128 else { continue }
                let o = (y * image.width + x) * 4
                (out[o], out[o + 1], out[o + 2], out[o + 3]) = (p.r, p.g, p.b, 255)
            }
        }
        return RGBImage(width: image.width, height: image.height, hasAlpha: true, pixels: out)
    }

    /// PSNR in dB over the RGB channels of two images of one size.
    static func psnr(_ a: RGBImage, _ b: RGBImage) -> Double {
        var sum = 0.0
        for y in 0..<a.height {
            for x in 0..<a.width {
                let p = a.pixel(x: x, y: y), q = b.pixel(x: x, y: y)
                for (u, v) in [(p.r, q.r), (p.g, q.g), (p.b, q.b)] {
                    let d = Double(u) - Double(v)
                    sum += d * d
                }
            }
        }
        let mse = sum / Double(a.width * a.height * 3)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    /// Mean absolute difference of the RGB means of `block` x `block` tiles.
    static func blockMeanError(_ a: RGBImage, _ b: RGBImage, block: Int) -> Double {
        var total = 0.0, tiles = 0
        for ty in stride(from: 0, to: a.height - block + 1, by: block) {
            for tx in stride(from: 0, to: a.width - block + 1, by: block) {
                var sa = [0.0, 0.0, 0.0], sb = [0.0, 0.0, 0.0]
                for y in ty..<(ty + block) {
                    for x in tx..<(tx + block) {
                        let p = a.pixel(x: x, y: y), q = b.pixel(x: x, y: y)
                        sa[0] += Double(p.r); sa[1] += Double(p.g); sa[2] += Double(p.b)
                        sb[0] += Double(q.r); sb[1] += Double(q.g); sb[2] += Double(q.b)
                    }
                }
                total += (0..<3).reduce(0.0) { $0 + abs(sa[$1] - sb[$1]) } / Double(block * block * 3)
                tiles += 1
            }
        }
        return total / Double(tiles)
    }

    /// The `sixel2png` executable on PATH, if any.
    static let sixel2png: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/sixel2png" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// `stream` decoded by libsixel's `sixel2png`, through temporary files.
    static func decodeWithSixel2png(_ stream: [UInt8]) throws -> RGBImage? {
        guard let tool = sixel2png else { return nil }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sixel-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("in.six"), output = folder.appendingPathComponent("out.png")
        try Data(stream).write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-i", input.path, "-o", output.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return try PNG.read(path: output.path).image
    }
}
