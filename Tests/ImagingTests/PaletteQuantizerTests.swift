import Testing
@testable import Imaging

extension SixelTests {
    /// The palette stages under the sixel encoder: quantiser, nearest-colour grid, mapper.
    @Suite struct Palettes {
        // MARK: Percent levels

        @Test func percentLevelsRoundTrip() {
            for p in 0...100 {
                let v = Palette.value(ofPercent: p)
                #expect(Palette.percent(of: v) == p)
                #expect(Palette.percentLevel(of: v) == v)
            }
            for v in 0...255 {
                let level = Int(Palette.percentLevel(of: UInt8(v)))
                let best = (0...100).map { abs(Int(Palette.value(ofPercent: $0)) - v) }.min()
                #expect(abs(level - v) == best)
            }
        }

        // MARK: Nearest-colour search

        @Test(arguments: [1, 2, 3, 7, 16, 100, 256])
        func gridMatchesBruteForce(paletteSize: Int) {
            var random = SixelSamples.Generator(state: UInt64(paletteSize))
            var colors = (0..<paletteSize).map { _ in
                Palette.Color(r: .random(in: 0...255, using: &random), g: .random(in: 0...255, using: &random),
                              b: .random(in: 0...255, using: &random))
            }
            if paletteSize > 3 {
                colors[paletteSize - 1] = colors[1]  // a duplicate: ties go to the lower index
            }
            let palette = Palette(colors)
            var queries: [(Int32, Int32, Int32)] = []
            for corner in 0..<8 {
                queries.append((corner & 4 == 0 ? 0 : 255, corner & 2 == 0 ? 0 : 255, corner & 1 == 0 ? 0 : 255))
            }
            for c in colors {
                queries.append((Int32(c.r), Int32(c.g), Int32(c.b)))
                queries.append((Int32(c.r / 2 + 64), Int32(c.g), Int32(255 - c.b)))
            }
            for _ in 0..<3000 {
                queries.append((.random(in: 0...255, using: &random), .random(in: 0...255, using: &random),
                                .random(in: 0...255, using: &random)))
            }
            // Fully built, and built only in a few cells (the rest answered from the coarse lists).
            var sparse = [UInt8](repeating: 0, count: 4096)
            for cell in stride(from: 0, to: 4096, by: 37) { sparse[cell] = 1 }
            for grid in [NearestGrid(palette: palette), NearestGrid(palette: palette, cells: sparse)] {
                grid.withSearch { search in
                    for q in queries {
                        let expected = palette.nearestIndexBruteForce(r: Int(q.0), g: Int(q.1), b: Int(q.2))
                        #expect(Int(search.nearest(q.0, q.1, q.2)) == expected, "colour \(q)")
                    }
                }
            }
        }

        @Test func tiesGoToTheLowestIndex() {
            // (10, 10, 10) is at distance 3 from both entries.
            let palette = Palette([Palette.Color(r: 11, g: 11, b: 11), Palette.Color(r: 9, g: 9, b: 9)])
            NearestGrid(palette: palette).withSearch { search in
                #expect(search.nearest(10, 10, 10) == 0)
            }
            #expect(palette.nearestIndexBruteForce(r: 10, g: 10, b: 10) == 0)
        }

        @Test func mapperMatchesBruteForcePerPixel() {
            var random = SixelSamples.Generator(state: 11)
            let palette = Palette((0..<60).map { _ in
                Palette.Color(r: .random(in: 0...255, using: &random), g: .random(in: 0...255, using: &random),
                              b: .random(in: 0...255, using: &random))
            })
            var pixels: [UInt8] = []
            for _ in 0..<(53 * 37) {
                pixels += [.random(in: 0...255, using: &random), .random(in: 0...255, using: &random),
                           .random(in: 0...255, using: &random), .random(in: 0...255, using: &random)]
            }
            let image = RGBImage(width: 53, height: 37, hasAlpha: true, pixels: pixels)
            let mapped = PaletteMapper(palette: palette).map(image)
            for y in 0..<image.height {
                for x in 0..<image.width {
                    let p = image.pixel(x: x, y: y)
                    let expected = p.a < 128 ? IndexedImage.transparent
                        : UInt16(palette.nearestIndexBruteForce(r: Int(p.r), g: Int(p.g), b: Int(p.b)))
                    #expect(mapped.indices[y * image.width + x] == expected)
                }
            }
        }

        @Test func ditheredMappingsKeepTransparencyAndUsePaletteColors() {
            let colors = SixelSamples.representableColors(count: 30, seed: 12)
            let image = SixelSamples.randomImage(width: 33, height: 20, colors: colors, seed: 13, alpha: true)
            let palette = Palette(Array(colors.prefix(9)))
            for dither in Dither.allCases {
                let mapped = PaletteMapper(palette: palette).map(image, dither: dither)
                for (i, index) in mapped.indices.enumerated() {
                    let transparent = image.pixels[i * 4 + 3] < 128
                    #expect((index == IndexedImage.transparent) == transparent)
                    #expect(transparent || Int(index) < palette.count)
                }
            }
        }

        // MARK: Quantiser

        @Test func fewColorsAreKeptExactly() {
            let colors = SixelSamples.representableColors(count: 5, seed: 14)
            let image = SixelSamples.randomImage(width: 30, height: 20, colors: colors, seed: 15)
            let palette = PaletteQuantizer().palette(for: image)
            #expect(Set(palette.colors) == Set(colors))
            #expect(palette.count == 5)
        }

        @Test func exactColorsAreRoundedToPercentLevels() {
            // 1, 2 and 254 are not percent levels; the levels nearest to them are 0, 3 and 255.
            let image = RGBImage(width: 2, height: 1, pixels: [1, 2, 3, 200, 100, 254])
            let palette = PaletteQuantizer().palette(for: image)
            #expect(palette.colors == [Palette.Color(r: 0, g: 3, b: 3), Palette.Color(r: 199, g: 99, b: 255)])
            let exact = PaletteQuantizer(percentExact: false).palette(for: image)
            #expect(exact.colors == [Palette.Color(r: 1, g: 2, b: 3), Palette.Color(r: 200, g: 100, b: 254)])
        }

        @Test(arguments: [2, 3, 16, 100, 256])
        func manyColorsAreReducedToAtMostMaxColors(maxColors: Int) {
            let image = SixelSamples.gradient(width: 64, height: 48)
            let palette = PaletteQuantizer(maxColors: maxColors).palette(for: image)
            #expect(palette.count <= maxColors)
            #expect(palette.count >= min(maxColors, 2))
            #expect(Set(palette.colors).count == palette.count)
            for c in palette.colors {
                #expect(c == Palette.percentRounded(c))
            }
            #expect(PaletteQuantizer(maxColors: maxColors).palette(for: image) == palette)
        }

        @Test func moreColorsGiveASmallerError() {
            let image = SixelSamples.gradient(width: 64, height: 48)
            var last = 0.0
            for maxColors in [4, 16, 64, 256] {
                let mapped = PaletteMapper(palette: PaletteQuantizer(maxColors: maxColors).palette(for: image)).map(image).rgba()
                let psnr = SixelSamples.psnr(mapped, image)
                #expect(psnr > last)
                last = psnr
            }
            // Measured 32.6 dB at 256 colours; img2sixel gets 31.4 dB with -d none, 30.2 dB by default
            // (the same gradient written as a PNG, `img2sixel grad.png | sixel2png`).
            #expect(last > 32)
        }

        @Test func refinementDoesNotHurt() {
            let image = SixelSamples.gradient(width: 80, height: 60)
            func psnr(passes: Int) -> Double {
                let palette = PaletteQuantizer(maxColors: 32, refinementPasses: passes).palette(for: image)
                return SixelSamples.psnr(PaletteMapper(palette: palette).map(image).rgba(), image)
            }
            #expect(psnr(passes: 4) >= psnr(passes: 0) - 0.05)
        }

        @Test func transparentPixelsDoNotShapeThePalette() {
            // Opaque pixels are two colours; the transparent ones carry many others.
            var pixels: [UInt8] = []
            for i in 0..<400 {
                if i % 2 == 0 {
                    pixels += i % 4 == 0 ? [0, 0, 0, 255] : [255, 255, 255, 200]
                } else {
                    pixels += [UInt8(i % 256), UInt8(i * 7 % 256), UInt8(i * 13 % 256), 10]
                }
            }
            let palette = PaletteQuantizer().palette(for: RGBImage(width: 20, height: 20, hasAlpha: true, pixels: pixels))
            #expect(Set(palette.colors) == [Palette.Color(r: 0, g: 0, b: 0), Palette.Color(r: 255, g: 255, b: 255)])
        }
    }
}
