import Testing
@testable import Imaging

@Suite struct ResizeTests {
    /// A deterministic noisy test image.
    static func noise(width: Int, height: Int, alpha: Bool = false, seed: UInt32 = 7) -> RGBImage {
        var state = seed
        let c = alpha ? 4 : 3
        let pixels = (0..<(width * height * c)).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        return RGBImage(width: width, height: height, hasAlpha: alpha, pixels: pixels)
    }

    /// Plain box average of k x k blocks: the reference for integer-factor area shrinking.
    static func boxAverage(_ image: RGBImage, factor k: Int) -> RGBImage {
        let w = image.width / k, h = image.height / k, c = image.channels
        var out = [UInt8](repeating: 0, count: w * h * c)
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<c {
                    var sum = 0
                    for dy in 0..<k { for dx in 0..<k { sum += Int(image.pixels[((y * k + dy) * image.width + x * k + dx) * c + ch]) } }
                    out[(y * w + x) * c + ch] = UInt8((Double(sum) / Double(k * k)).rounded())
                }
            }
        }
        return RGBImage(width: w, height: h, hasAlpha: image.hasAlpha, pixels: out)
    }

    @Test func areaShrinkEqualsBoxAverageAtIntegerFactors() {
        let image = Self.noise(width: 36, height: 24)
        for k in [2, 3, 4, 6] {
            let ours = image.resized(width: 36 / k, height: 24 / k, filter: .area)
            let reference = Self.boxAverage(image, factor: k)
            let worst = zip(ours.pixels, reference.pixels).map { abs(Int($0) - Int($1)) }.max()!
            #expect(worst <= 1, "factor \(k): max difference \(worst)")
        }
    }

    @Test func areaShrinkKeepsTheMeanAtFractionalFactors() {
        let image = Self.noise(width: 101, height: 67)
        let small = image.resized(width: 17, height: 13, filter: .area)
        for ch in 0..<3 {
            let mean = { (img: RGBImage) in
                stride(from: ch, to: img.pixels.count, by: 3).reduce(0.0) { $0 + Double(img.pixels[$1]) } / Double(img.width * img.height)
            }
            #expect(abs(mean(image) - mean(small)) < 1.5)
        }
    }

    @Test func nearestEnlargesCrisply() {
        let image = Self.noise(width: 3, height: 2)
        let big = image.fitted(width: 12, height: 8)
        for y in 0..<8 {
            for x in 0..<12 {
                #expect(big.pixel(x: x, y: y) == image.pixel(x: x / 4, y: y / 4))
            }
        }
    }

    @Test func transparentPixelsDoNotDarkenAreaAverages() {
        // Opaque white beside fully transparent black: the average colour stays white.
        var pixels: [UInt8] = []
        for x in 0..<4 { pixels += x % 2 == 0 ? [255, 255, 255, 255] : [0, 0, 0, 0] }
        let image = RGBImage(width: 4, height: 1, hasAlpha: true, pixels: pixels)
        let half = image.resized(width: 2, height: 1, filter: .area)
        #expect(half.pixels == [255, 255, 255, 128, 255, 255, 255, 128])
    }

    @Test func sizeFittingKeepsAspect() {
        let image = RGBImage(width: 512, height: 256)
        #expect(image.sizeFitting(maxWidth: 100, maxHeight: 100) == (100, 50))
        #expect(image.sizeFitting(maxWidth: 1000, maxHeight: 1000) == (512, 256))
        #expect(image.sizeFitting(maxWidth: 1000, maxHeight: 1000, enlarge: true) == (1000, 500))
    }
}
