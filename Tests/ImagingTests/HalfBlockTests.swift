import Foundation
import Testing
@testable import Imaging

@Suite struct HalfBlockTests {
    @Test func truecolorDecodesToTheBoxDownscaledImage() {
        let image = ResizeTests.noise(width: 64, height: 48)
        let bytes = HalfBlockEncoder(colors: .truecolor).encode(image, columns: 16)
        let decoded = HalfBlockDecoder.decode(bytes)
        #expect(decoded.width == 16)
        #expect(decoded.height == 12)
        let reference = ResizeTests.boxAverage(image, factor: 4)
        var worst = 0
        for p in 0..<(16 * 12) {
            for c in 0..<3 { worst = max(worst, abs(Int(decoded.pixels[p * 4 + c]) - Int(reference.pixels[p * 3 + c]))) }
            #expect(decoded.pixels[p * 4 + 3] == 255)
        }
        #expect(worst <= 1)
    }

    @Test func widthIsExactlyTheColumnsAskedFor() {
        let image = ResizeTests.noise(width: 512, height: 300)
        for columns in [1, 7, 80, 200, 700] {
            let bytes = HalfBlockEncoder().encode(image, columns: columns)
            let decoded = HalfBlockDecoder.decode(bytes)
            #expect(decoded.width == columns)
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            #expect(lines.allSatisfy { $0.filter { $0 == "▀" || $0 == "▄" || $0 == " " }.count == columns })
            // Aspect ratio kept: pixel rows ≈ columns * 300 / 512, rounded to whole cells (at least one).
            #expect(abs(Double(decoded.height) - max(2, Double(columns) * 300 / 512)) <= 1.0 + 1e-9)
        }
    }

    @Test func palette256DecodesToNearestPaletteColours() {
        let image = ResizeTests.noise(width: 20, height: 10)
        let bytes = HalfBlockEncoder(colors: .palette256).encode(image, columns: 20)
        #expect(!String(decoding: bytes, as: UTF8.self).contains("38;2;"))
        let decoded = HalfBlockDecoder.decode(bytes)
        for p in 0..<(20 * 10) {
            let (r, g, b) = (image.pixels[p * 3], image.pixels[p * 3 + 1], image.pixels[p * 3 + 2])
            let best = Xterm256.color(bruteForceNearest(r, g, b))
            let shown = (r: decoded.pixels[p * 4], g: decoded.pixels[p * 4 + 1], b: decoded.pixels[p * 4 + 2])
            #expect(distance(shown, r, g, b) == distance(best, r, g, b))  // ties may pick either colour
        }
    }

    @Test func nearest256MatchesBruteForce() {
        var state: UInt32 = 99
        for _ in 0..<2000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            let (r, g, b) = (UInt8(truncatingIfNeeded: state >> 8), UInt8(truncatingIfNeeded: state >> 16), UInt8(truncatingIfNeeded: state >> 24))
            let ours = Xterm256.color(Xterm256.nearest(r: r, g: g, b: b))
            let best = Xterm256.color(bruteForceNearest(r, g, b))
            #expect(distance(ours, r, g, b) == distance(best, r, g, b))
        }
    }

    @Test func transparentHalvesKeepTheTerminalBackground() {
        // Column 0: opaque red over transparent; column 1: transparent over opaque blue; column 2: both transparent.
        let pixels: [UInt8] = [255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0,
                               0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0]
        let image = RGBImage(width: 3, height: 2, hasAlpha: true, pixels: pixels)
        let decoded = HalfBlockDecoder.decode(HalfBlockEncoder().encodeCells(image))
        #expect(decoded.pixels == pixels)
    }

    @Test func unchangedColoursAreNotRepeated() {
        let image = RGBImage(width: 10, height: 2, fill: (10, 20, 30))
        let text = String(decoding: HalfBlockEncoder().encode(image, columns: 10), as: UTF8.self)
        #expect(text.components(separatedBy: "\u{1B}[").count == 3)  // one colour set, one reset
    }

    private func bruteForceNearest(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Int {
        (16...255).min { distance(Xterm256.color($0), r, g, b) < distance(Xterm256.color($1), r, g, b) }!
    }

    private func distance(_ c: (r: UInt8, g: UInt8, b: UInt8), _ r: UInt8, _ g: UInt8, _ b: UInt8) -> Int {
        let dr = Int(c.r) - Int(r), dg = Int(c.g) - Int(g), db = Int(c.b) - Int(b)
        return dr * dr + dg * dg + db * db
    }
}

@Suite struct KittyGraphicsTests {
    @Test func chunksDecodeBackToThePNG() throws {
        let image = ResizeTests.noise(width: 80, height: 60)
        let bytes = try KittyGraphicsEncoder().encode(image, columns: 20, rows: 8)
        let text = String(decoding: bytes, as: UTF8.self)
        let commands = text.components(separatedBy: "\u{1B}\\").dropLast()
        #expect(commands.count > 1)
        var payload = ""
        for (i, command) in commands.enumerated() {
            #expect(command.hasPrefix("\u{1B}_G"))
            let parts = command.dropFirst(3).split(separator: ";", maxSplits: 1)
            let keys = parts[0]
            if i == 0 { #expect(keys.hasPrefix("a=T,f=100,q=2,c=20,r=8,")) }
            #expect(keys.hasSuffix(i == commands.count - 1 ? "m=0" : "m=1"))
            #expect(parts[1].count <= 4096)
            payload += parts[1]
        }
        let png = try #require(Data(base64Encoded: payload))
        #expect(try PNG.decode(png).image == image)
    }
}
