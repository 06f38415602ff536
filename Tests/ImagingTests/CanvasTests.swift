import Testing
@testable import Imaging

/// Helpers shared by the drawing tests.
enum Drawn {
    static let black = Canvas.Color(r: 0, g: 0, b: 0)
    static let white = Canvas.Color(r: 255, g: 255, b: 255)

    /// The pixels (x, y) of `canvas` inside `rect` for which `test` holds.
    static func pixels(_ canvas: Canvas, in rect: PixelRect? = nil, where test: (Canvas.Color) -> Bool) -> [(x: Int, y: Int)] {
        let r = (rect ?? canvas.bounds).intersection(canvas.bounds)
        var out: [(x: Int, y: Int)] = []
        guard !r.isEmpty else { return out }
        for y in r.y..<r.maxY {
            for x in r.x..<r.maxX where canvas.color(x: x, y: y).map(test) == true { out.append((x, y)) }
        }
        return out
    }

    /// The pixels that are exactly `color`.
    static func pixels(_ canvas: Canvas, in rect: PixelRect? = nil, equalTo color: Canvas.Color) -> [(x: Int, y: Int)] {
        pixels(canvas, in: rect) { $0 == color }
    }

    /// The smallest rectangle holding all the points (nil for none).
    static func boundingBox(_ points: [(x: Int, y: Int)]) -> PixelRect? {
        guard let first = points.first else { return nil }
        var x0 = first.x, x1 = first.x, y0 = first.y, y1 = first.y
        for p in points {
            x0 = min(x0, p.x); x1 = max(x1, p.x); y0 = min(y0, p.y); y1 = max(y1, p.y)
        }
        return PixelRect(x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1)
    }

    /// The pixels that differ from black.
    static func ink(_ canvas: Canvas, in rect: PixelRect? = nil) -> [(x: Int, y: Int)] {
        pixels(canvas, in: rect) { $0 != black }
    }
}

@Suite struct CanvasTests {
    @Test func fillClipsToTheCanvasAndTheClipRectangle() {
        var canvas = Canvas(width: 10, height: 8)
        canvas.fill(PixelRect(x: -5, y: 6, width: 8, height: 100), Drawn.white)
        #expect(Drawn.boundingBox(Drawn.ink(canvas)) == PixelRect(x: 0, y: 6, width: 3, height: 2))
        canvas.clip = PixelRect(x: 5, y: 0, width: 3, height: 3)
        canvas.fill(Drawn.white)
        #expect(Drawn.ink(canvas).count == 6 + 9)
        canvas.clip = PixelRect(x: -100, y: -100, width: 1000, height: 1000)
        #expect(canvas.clip == canvas.bounds)
    }

    @Test func aOnePixelLineIsExactlyItsPixels() {
        var canvas = Canvas(width: 20, height: 12)
        canvas.line(from: 2, 5, to: 15, 5, Drawn.white)
        let horizontal = Drawn.ink(canvas)
        #expect(horizontal.count == 14)
        #expect(horizontal.allSatisfy { $0.y == 5 && canvas.color(x: $0.x, y: $0.y) == Drawn.white })
        #expect(Drawn.boundingBox(horizontal) == PixelRect(x: 2, y: 5, width: 14, height: 1))

        var vertical = Canvas(width: 20, height: 12)
        vertical.line(from: 7, 10, to: 7, 1, Drawn.white)
        #expect(Drawn.boundingBox(Drawn.ink(vertical)) == PixelRect(x: 7, y: 1, width: 1, height: 10))
    }

    @Test func linesHitTheirEndPointsAndStayNearTheSegment() {
        var state: UInt64 = 12345
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        for _ in 0..<200 {
            var canvas = Canvas(width: 40, height: 30)
            let x0 = next() * 39, y0 = next() * 29, x1 = next() * 39, y1 = next() * 29
            let width = 1 + next() * 3
            canvas.line(from: x0, y0, to: x1, y1, Drawn.white, width: width)
            for (x, y) in [(x0, y0), (x1, y1)] {
                let c = canvas.color(x: Int(x.rounded()), y: Int(y.rounded()))
                // The pixel holding the end point is at most 0.71 px from it: at least 29 % covered.
                #expect((c?.r ?? 0) >= 64, "end point (\(x), \(y)) of width \(width): \(String(describing: c))")
            }
            // Every inked pixel is within the stroke's half width (plus the anti-aliasing pixel).
            let dx = x1 - x0, dy = y1 - y0, length2 = dx * dx + dy * dy
            for p in Drawn.ink(canvas) {
                let u = length2 > 0 ? min(max(((Double(p.x) - x0) * dx + (Double(p.y) - y0) * dy) / length2, 0), 1) : 0
                let ex = Double(p.x) - (x0 + u * dx), ey = Double(p.y) - (y0 + u * dy)
                #expect((ex * ex + ey * ey).squareRoot() < width / 2 + 0.5 + 1e-9)
            }
        }
    }

    @Test func linesCrossingTheEdgeAreClippedNotWrapped() {
        var canvas = Canvas(width: 30, height: 20)
        canvas.line(from: -50, 10, to: 1e12, 10, Drawn.white, width: 3)
        let ink = Drawn.ink(canvas)
        #expect(Drawn.boundingBox(ink) == PixelRect(x: 0, y: 9, width: 30, height: 3))
        canvas = Canvas(width: 30, height: 20)
        canvas.clip = PixelRect(x: 5, y: 5, width: 10, height: 10)
        canvas.line(from: 0, 0, to: 29, 19, Drawn.white, width: 2)
        #expect(Drawn.ink(canvas).allSatisfy { $0.x >= 5 && $0.x < 15 && $0.y >= 5 && $0.y < 15 })
        #expect(!Drawn.ink(canvas).isEmpty)
    }

    @Test func nothingTrapsForAnyCoordinates() {
        let specials: [Double] = [.nan, .infinity, -.infinity, 1e308, -1e308, .greatestFiniteMagnitude, 9.3e18, -9.3e18,
                                  Double(Int.max), Double(Int.min), 0, -0.5, 3.5, 5e-324]
        let ints = [Int.min, Int.min + 1, -1 << 40, -1, 0, 5, 1 << 40, Int.max - 1, Int.max]
        let image = RGBImage(width: 3, height: 2, fill: (200, 10, 10))
        var canvas = Canvas(width: 16, height: 12)
        for a in specials {
            for b in specials {
                canvas.line(from: a, 3, to: 5, b, Drawn.white, width: 2)
                canvas.line(from: a, b, to: b, a, Drawn.white, width: a)
                canvas.fillCircle(centerX: a, centerY: 4, radius: b, Drawn.white)
                canvas.blendPixel(x: 3, y: 3, Drawn.white, alpha: a)
                canvas.polyline([(a, b), (1, 1), (b, a), (2, 9)], Drawn.white, width: 1.5, dash: (on: a, off: b))
                canvas.polyline([(0, 0), (a, b)], Drawn.white, dash: (on: 3, off: 2))
            }
        }
        for x in ints {
            for y in ints {
                canvas.setPixel(x: x, y: y, Drawn.white)
                canvas.fill(PixelRect(x: x, y: y, width: y, height: x), Drawn.white)
                canvas.strokeRect(PixelRect(x: x, y: y, width: Int.max, height: 7), Drawn.white, lineWidth: x)
                canvas.text("Hi\nthere é", x: x, y: y, Drawn.white, scale: x)
                canvas.text("Hi", centerX: x, y: y, Drawn.white, scale: y)
                canvas.draw(image: image, atX: x, y: y, scale: y)
                canvas.draw(image: image, into: PixelRect(x: x, y: y, width: y, height: Int.max))
                _ = canvas.color(x: x, y: y)
            }
        }
        _ = Canvas(width: Int.max, height: Int.min)
        #expect(canvas.width == 16)
    }

    @Test func imagesBlitWithIntegerScaleAndClip() {
        var image = RGBImage(width: 2, height: 2, fill: (0, 0, 0))
        image.pixels = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
        var canvas = Canvas(width: 10, height: 10)
        canvas.draw(image: image, atX: 1, y: 2, scale: 3)
        #expect(canvas.color(x: 1, y: 2) == .init(r: 255, g: 0, b: 0))
        #expect(canvas.color(x: 3, y: 4) == .init(r: 255, g: 0, b: 0))
        #expect(canvas.color(x: 4, y: 4) == .init(r: 0, g: 255, b: 0))
        #expect(canvas.color(x: 3, y: 5) == .init(r: 0, g: 0, b: 255))
        #expect(canvas.color(x: 6, y: 7) == Drawn.white)
        #expect(Drawn.boundingBox(Drawn.ink(canvas)) == PixelRect(x: 1, y: 2, width: 6, height: 6))
        // Partly off the canvas: the visible part is the right part of the image.
        canvas = Canvas(width: 10, height: 10)
        canvas.draw(image: image, atX: -3, y: -3, scale: 3)
        #expect(canvas.color(x: 0, y: 0) == Drawn.white)
        #expect(Drawn.boundingBox(Drawn.ink(canvas)) == PixelRect(x: 0, y: 0, width: 3, height: 3))
    }

    @Test func drawIntoARectangleKeepsTheAspectRatioCentred() {
        let wide = RGBImage(width: 4, height: 2, fill: (255, 255, 255))
        var canvas = Canvas(width: 20, height: 20)
        canvas.draw(image: wide, into: PixelRect(x: 2, y: 2, width: 16, height: 16))
        #expect(Drawn.boundingBox(Drawn.ink(canvas)) == PixelRect(x: 2, y: 6, width: 16, height: 8))
    }

    @Test func alphaImagesCompositeOverTheCanvas() {
        let half = RGBImage(width: 1, height: 1, hasAlpha: true, pixels: [255, 255, 255, 128])
        var canvas = Canvas(width: 2, height: 1)
        canvas.draw(image: half, atX: 0, y: 0)
        #expect(canvas.color(x: 0, y: 0) == .init(r: 128, g: 128, b: 128))
        #expect(canvas.color(x: 1, y: 0) == Drawn.black)
    }

    @Test func dashedLinesHaveGaps() {
        var canvas = Canvas(width: 60, height: 5)
        canvas.polyline([(0, 2), (59, 2)], Drawn.white, dash: (on: 6, off: 4))
        let row = (0..<60).map { (canvas.color(x: $0, y: 2)?.r ?? 0) > 128 }
        #expect(row.filter { $0 }.count > 25 && row.filter { !$0 }.count > 15)
        #expect(row[0] && row[3] && !row[8])
    }

    @Test func aNonFinitePointBreaksAPolyline() {
        var canvas = Canvas(width: 30, height: 5)
        canvas.polyline([(0, 2), (10, 2), (.nan, 2), (20, 2), (29, 2)], Drawn.white)
        #expect(canvas.color(x: 5, y: 2) == Drawn.white)
        #expect(canvas.color(x: 15, y: 2) == Drawn.black)
        #expect(canvas.color(x: 25, y: 2) == Drawn.white)
    }

    @Test func discsAreRoundAndCentred() {
        var canvas = Canvas(width: 21, height: 21)
        canvas.fillCircle(centerX: 10, centerY: 10, radius: 5, Drawn.white)
        #expect(Drawn.boundingBox(Drawn.ink(canvas)) == PixelRect(x: 5, y: 5, width: 11, height: 11))
        // The coverage adds up to the disc's area.
        let covered = Drawn.ink(canvas).reduce(0.0) { $0 + Double(canvas.color(x: $1.x, y: $1.y)?.r ?? 0) / 255 }
        #expect(abs(covered - Double.pi * 25) < 1.5, "\(covered)")
        #expect(canvas.color(x: 10, y: 10) == Drawn.white && canvas.color(x: 10, y: 6) == Drawn.white)
    }

    @Test func composingA1200PixelPictureIsFast() {
        let cell = RGBImage(width: 64, height: 64, fill: (90, 120, 200))
        let grid = LabelledGrid(title: "speed", columnLabels: (0..<9).map { "col \($0)" }, rowLabels: (0..<9).map { "row \($0)" },
                                cells: Array(repeating: Array(repeating: cell, count: 9), count: 9), cellScale: 2)
        let clock = ContinuousClock()
        var image: RGBImage?
        let elapsed = clock.measure { image = grid.render() }
        #expect((image?.width ?? 0) > 1200)
        #expect(elapsed < .milliseconds(100), "\(elapsed)")
    }
}
