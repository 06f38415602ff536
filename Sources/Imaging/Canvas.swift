/// A rectangle of whole pixels: `x, y` its top-left corner, `width x height` its size (empty when
/// either is 0 or less).
public struct PixelRect: Sendable, Equatable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// True when it holds no pixel.
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    /// One past the right column (saturating, so huge rectangles do not trap).
    public var maxX: Int { x.addingReportingOverflow(max(width, 0)).overflow ? Int.max : x + max(width, 0) }
    /// One past the bottom row (saturating).
    public var maxY: Int { y.addingReportingOverflow(max(height, 0)).overflow ? Int.max : y + max(height, 0) }

    /// The pixels both rectangles hold (empty, at the origin, when none).
    public func intersection(_ other: PixelRect) -> PixelRect {
        let x0 = max(x, other.x), y0 = max(y, other.y)
        let x1 = min(maxX, other.maxX), y1 = min(maxY, other.maxY)
        guard x1 > x0, y1 > y0 else { return PixelRect(x: 0, y: 0, width: 0, height: 0) }
        return PixelRect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// True when pixel (px, py) is inside.
    @inlinable public func contains(x px: Int, y py: Int) -> Bool {
        px >= x && py >= y && px < maxX && py < maxY
    }

    /// The rectangle shrunk by `amount` on every side (empty when nothing is left).
    public func inset(by amount: Int) -> PixelRect {
        PixelRect(x: x &+ amount, y: y &+ amount, width: width &- 2 &* amount, height: height &- 2 &* amount)
    }

    public var description: String { "\(width)x\(height)+\(x)+\(y)" }
}

/// An RGB picture to draw on: filled rectangles, anti-aliased lines and discs, bitmap text and
/// scaled images. The picture views (noise schedule plots, trajectories, X/Y grids) draw with it
/// and save `image` as PNG. Every operation clips: coordinates outside the canvas (or the `clip`
/// rectangle), huge, infinite or NaN draw nothing there and never trap.
///
/// Coordinates in `Double` put pixel (i, j)'s centre at (i, j), so a 1-pixel line from (0, 5)
/// to (9, 5) sets exactly row 5, columns 0-9.
public struct Canvas: Sendable, Equatable {
    /// Colours are 8-bit RGB, the palette's colour type.
    public typealias Color = Palette.Color

    /// The largest width or height of a canvas; larger requests are clamped.
    public static let maxSide = 16_384

    /// The picture, RGB without alpha.
    public private(set) var image: RGBImage
    /// Drawing is limited to this rectangle (always inside the canvas). Plots set it to their area.
    public var clip: PixelRect {
        didSet { clip = clip.intersection(bounds) }
    }

    public var width: Int { image.width }
    public var height: Int { image.height }
    /// The whole canvas.
    public var bounds: PixelRect { PixelRect(x: 0, y: 0, width: image.width, height: image.height) }

    /// A canvas filled with `background`; each side is clamped to 1...maxSide.
    public init(width: Int, height: Int, background: Color = Color(r: 0, g: 0, b: 0)) {
        let w = min(max(width, 1), Self.maxSide), h = min(max(height, 1), Self.maxSide)
        image = RGBImage(width: w, height: h, fill: (background.r, background.g, background.b))
        clip = PixelRect(x: 0, y: 0, width: w, height: h)
    }

    /// A canvas over an existing picture (an alpha channel is composited over black).
    public init(image: RGBImage) {
        self.image = image.flattened()
        clip = PixelRect(x: 0, y: 0, width: image.width, height: image.height)
    }

    /// The colour at (x, y), nil outside the canvas.
    public func color(x: Int, y: Int) -> Color? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        let i = (y * width + x) * 3
        return Color(r: image.pixels[i], g: image.pixels[i + 1], b: image.pixels[i + 2])
    }

    // MARK: Pixels and rectangles

    /// Sets one pixel (clipped).
    public mutating func setPixel(x: Int, y: Int, _ color: Color) {
        guard clip.contains(x: x, y: y) else { return }
        let i = (y * image.width + x) * 3
        image.pixels[i] = color.r
        image.pixels[i + 1] = color.g
        image.pixels[i + 2] = color.b
    }

    /// Mixes `color` into one pixel with opacity `alpha` (0...1; clipped, NaN draws nothing).
    public mutating func blendPixel(x: Int, y: Int, _ color: Color, alpha: Double) {
        guard alpha > 0, clip.contains(x: x, y: y) else { return }
        if alpha >= 1 { return setPixel(x: x, y: y, color) }
        let a = UInt32(alpha * 256), inv = 256 - a
        let i = (y * image.width + x) * 3
        image.pixels[i] = UInt8((UInt32(color.r) * a + UInt32(image.pixels[i]) * inv) >> 8)
        image.pixels[i + 1] = UInt8((UInt32(color.g) * a + UInt32(image.pixels[i + 1]) * inv) >> 8)
        image.pixels[i + 2] = UInt8((UInt32(color.b) * a + UInt32(image.pixels[i + 2]) * inv) >> 8)
    }

    /// Fills a rectangle (clipped).
    public mutating func fill(_ rect: PixelRect, _ color: Color) {
        let r = rect.intersection(clip)
        guard !r.isEmpty else { return }
        let w = image.width
        image.pixels.withUnsafeMutableBufferPointer { p in
            for y in r.y..<(r.y + r.height) {
                var i = (y * w + r.x) * 3
                for _ in 0..<r.width {
                    p[i] = color.r
                    p[i + 1] = color.g
                    p[i + 2] = color.b
                    i += 3
                }
            }
        }
    }

    /// Fills the whole clip rectangle.
    public mutating func fill(_ color: Color) { fill(clip, color) }

    /// The outline of a rectangle, `lineWidth` pixels thick, inside the rectangle.
    public mutating func strokeRect(_ rect: PixelRect, _ color: Color, lineWidth: Int = 1) {
        guard !rect.isEmpty else { return }
        let t = min(max(lineWidth, 1), max(rect.width, rect.height))
        fill(PixelRect(x: rect.x, y: rect.y, width: rect.width, height: t), color)
        fill(PixelRect(x: rect.x, y: rect.maxY &- t, width: rect.width, height: t), color)
        fill(PixelRect(x: rect.x, y: rect.y, width: t, height: rect.height), color)
        fill(PixelRect(x: rect.maxX &- t, y: rect.y, width: t, height: rect.height), color)
    }

    // MARK: Lines and discs

    /// A straight line `width` pixels wide with round ends, anti-aliased. Non-finite coordinates draw
    /// nothing; far-away ones are clipped before any pixel is visited.
    public mutating func line(from x0: Double, _ y0: Double, to x1: Double, _ y1: Double, _ color: Color, width: Double = 1) {
        guard width.isFinite, width > 0 else { return }
        let half = min(width, 4096) / 2
        let reach = half + 1
        // Clip the segment to the clip rectangle grown by the stroke's reach (Liang-Barsky).
        let lo = (x: Double(clip.x) - reach, y: Double(clip.y) - reach)
        let hi = (x: Double(clip.maxX - 1) + reach, y: Double(clip.maxY - 1) + reach)
        guard let (a, b) = Self.clipSegment((x0, y0), (x1, y1), lo: lo, hi: hi) else { return }
        let dx = b.x - a.x, dy = b.y - a.y
        let lengthSquared = dx * dx + dy * dy
        let steep = abs(dy) > abs(dx)
        // Walk the major axis; on each step visit the few pixels across the stroke.
        let (major0, major1) = steep ? (min(a.y, b.y), max(a.y, b.y)) : (min(a.x, b.x), max(a.x, b.x))
        let first = Int((major0 - reach).rounded(.down)), last = Int((major1 + reach).rounded(.up))
        let slope = steep ? (dy == 0 ? 0 : dx / dy) : (dx == 0 ? 0 : dy / dx)
        let across = Int((reach * (1 + abs(slope))).rounded(.up)) + 1
        for m in first...last {
            // Centre of the stroke at this step, the parameter clamped to the segment.
            let t = steep ? (dy == 0 ? 0 : (Double(m) - a.y) / dy) : (dx == 0 ? 0 : (Double(m) - a.x) / dx)
            let tc = min(max(t, 0), 1)
            let centre = steep ? a.x + tc * dx : a.y + tc * dy
            let c = Int(centre.rounded())
            for n in (c - across)...(c + across) {
                let px = Double(steep ? n : m), py = Double(steep ? m : n)
                // Distance from the pixel centre to the segment.
                var u = lengthSquared > 0 ? ((px - a.x) * dx + (py - a.y) * dy) / lengthSquared : 0
                u = min(max(u, 0), 1)
                let ex = px - (a.x + u * dx), ey = py - (a.y + u * dy)
                let coverage = half + 0.5 - (ex * ex + ey * ey).squareRoot()
                if coverage > 0 {
                    blendPixel(x: steep ? n : m, y: steep ? m : n, color, alpha: min(coverage, 1))
                }
            }
        }
    }

    /// Connected lines through `points`; a non-finite point breaks the line (a gap, not a trap).
    /// With `dash` (lengths in pixels, along the path) it is drawn dashed.
    public mutating func polyline(_ points: [(x: Double, y: Double)], _ color: Color, width: Double = 1,
                                  dash: (on: Double, off: Double)? = nil) {
        var previous: (x: Double, y: Double)?
        var phase = 0.0  // distance along the dash pattern
        let pattern = dash.flatMap { d -> (on: Double, off: Double)? in
            d.on.isFinite && d.off.isFinite && d.on > 0 && d.off >= 0 ? (min(d.on, 1e6), min(d.off, 1e6)) : nil
        }
        for p in points {
            guard p.x.isFinite, p.y.isFinite else { previous = nil; continue }
            defer { previous = p }
            guard let q = previous else {
                if points.count == 1 { line(from: p.x, p.y, to: p.x, p.y, color, width: width) }
                continue
            }
            guard let pattern else {
                line(from: q.x, q.y, to: p.x, p.y, color, width: width)
                continue
            }
            let dx = p.x - q.x, dy = p.y - q.y
            let length = (dx * dx + dy * dy).squareRoot()
            guard length.isFinite, length > 0 else { continue }
            // Pieces of this segment, at most a bounded number (a far-off segment is one dash).
            let period = pattern.on + pattern.off
            var s = 0.0
            var pieces = 0
            while s < length, pieces < 10_000 {
                let inPeriod = phase.truncatingRemainder(dividingBy: period)
                let on = inPeriod < pattern.on
                let step = min(length - s, on ? pattern.on - inPeriod : period - inPeriod)
                if on {
                    let t0 = s / length, t1 = (s + step) / length
                    line(from: q.x + t0 * dx, q.y + t0 * dy, to: q.x + t1 * dx, q.y + t1 * dy, color, width: width)
                }
                s += step
                phase += step
                pieces += 1
            }
        }
    }

    /// A filled, anti-aliased disc (a plot marker).
    public mutating func fillCircle(centerX cx: Double, centerY cy: Double, radius: Double, _ color: Color) {
        guard cx.isFinite, cy.isFinite, radius.isFinite, radius > 0 else { return }
        let r = min(radius, Double(Self.maxSide) * 2)
        let x0 = max(Double(clip.x), (cx - r - 1).rounded(.down)), x1 = min(Double(clip.maxX - 1), (cx + r + 1).rounded(.up))
        let y0 = max(Double(clip.y), (cy - r - 1).rounded(.down)), y1 = min(Double(clip.maxY - 1), (cy + r + 1).rounded(.up))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in Int(y0)...Int(y1) {
            for x in Int(x0)...Int(x1) {
                let ex = Double(x) - cx, ey = Double(y) - cy
                let coverage = r + 0.5 - (ex * ex + ey * ey).squareRoot()
                if coverage > 0 { blendPixel(x: x, y: y, color, alpha: min(coverage, 1)) }
            }
        }
    }

    /// The part of segment a-b inside the box lo...hi, nil when none (or when a coordinate or the
    /// segment's extent is not finite).
    static func clipSegment(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double),
                            lo: (x: Double, y: Double), hi: (x: Double, y: Double)) -> ((x: Double, y: Double), (x: Double, y: Double))? {
        let dx = b.x - a.x, dy = b.y - a.y
        guard dx.isFinite, dy.isFinite, a.x.isFinite, a.y.isFinite else { return nil }
        var t0 = 0.0, t1 = 1.0
        for (p, q) in [(-dx, a.x - lo.x), (dx, hi.x - a.x), (-dy, a.y - lo.y), (dy, hi.y - a.y)] {
            if p == 0 {
                if q < 0 { return nil }
            } else {
                let r = q / p
                if p < 0 { t0 = max(t0, r) } else { t1 = min(t1, r) }
            }
        }
        guard t0 <= t1 else { return nil }
        return ((a.x + t0 * dx, a.y + t0 * dy), (a.x + t1 * dx, a.y + t1 * dy))
    }

    // MARK: Text

    /// Draws `text` with its box's top-left at (x, y) in BitmapFont, each glyph bit a `scale` x `scale`
    /// block; "\n" starts a new line. The drawn pixels lie inside `BitmapFont.measure(text, scale:)`.
    public mutating func text(_ text: String, x: Int, y: Int, _ color: Color, scale: Int = 1) {
        let s = BitmapFont.clampedScale(scale)
        var lineY = y
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if lineY >= clip.maxY { return }
            if lineY > clip.y - BitmapFont.lineAdvance * s {
                var gx = x
                for character in line {
                    if gx >= clip.maxX { break }
                    if gx > clip.x - BitmapFont.advance * s { glyph(character, x: gx, y: lineY, color, scale: s) }
                    gx = gx.addingReportingOverflow(BitmapFont.advance * s).partialValue
                    if gx < x { break }  // wrapped around Int.max
                }
            }
            let next = lineY.addingReportingOverflow(BitmapFont.lineAdvance * s)
            if next.overflow { return }
            lineY = next.partialValue
        }
    }

    /// Text centred horizontally on `centerX`, each line on its own.
    public mutating func text(_ text: String, centerX: Int, y: Int, _ color: Color, scale: Int = 1) {
        let s = BitmapFont.clampedScale(scale)
        var lineY = y
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let w = BitmapFont.width(ofCharacters: line.count, scale: s)
            self.text(String(line), x: centerX.subtractingReportingOverflow(w / 2).partialValue, y: lineY, color, scale: s)
            lineY = lineY.addingReportingOverflow(BitmapFont.lineAdvance * s).partialValue
        }
    }

    private mutating func glyph(_ character: Character, x: Int, y: Int, _ color: Color, scale s: Int) {
        let rows = BitmapFont.rows(of: character)
        for (r, bits) in rows.enumerated() where bits != 0 {
            var column = 0
            while column < BitmapFont.glyphWidth {
                // One fill per run of set bits.
                guard bits & (0x10 >> UInt8(column)) != 0 else { column += 1; continue }
                var end = column + 1
                while end < BitmapFont.glyphWidth, bits & (0x10 >> UInt8(end)) != 0 { end += 1 }
                fill(PixelRect(x: x + column * s, y: y + r * s, width: (end - column) * s, height: s), color)
                column = end
            }
        }
    }

    // MARK: Images

    /// Draws `image` with its top-left at (x, y), each pixel a `scale` x `scale` block (nearest
    /// neighbour; scale clamped to 1...64). Alpha is composited over the canvas.
    public mutating func draw(image source: RGBImage, atX x: Int, y: Int, scale: Int = 1) {
        let s = min(max(scale, 1), 64)
        blit(source, into: PixelRect(x: x, y: y, width: source.width * s, height: source.height * s))
    }

    /// Draws `image` as large as fits inside `rect` keeping its aspect ratio, centred, nearest
    /// neighbour (so small images stay crisp).
    public mutating func draw(image source: RGBImage, into rect: PixelRect) {
        guard !rect.isEmpty else { return }
        // Beyond any canvas; bounded so the fitting arithmetic stays small.
        let rect = PixelRect(x: rect.x, y: rect.y, width: min(rect.width, 1 << 20), height: min(rect.height, 1 << 20))
        let size = source.sizeFitting(maxWidth: rect.width, maxHeight: rect.height, enlarge: true)
        let x = rect.x.addingReportingOverflow((rect.width - size.width) / 2).partialValue
        let y = rect.y.addingReportingOverflow((rect.height - size.height) / 2).partialValue
        blit(source, into: PixelRect(x: x, y: y, width: size.width, height: size.height))
    }

    /// Nearest-neighbour copy of `source` stretched over `target`, clipped.
    private mutating func blit(_ source: RGBImage, into target: PixelRect) {
        let visible = target.intersection(clip)
        guard !visible.isEmpty, target.width > 0, target.height > 0,
              target.width <= 1 << 22, target.height <= 1 << 22 else { return }
        let sw = source.width, sh = source.height, c = source.channels, alpha = source.hasAlpha
        let w = image.width
        // Offsets inside the target are small (the visible part is inside the canvas).
        let offsetX = visible.x - target.x, offsetY = visible.y - target.y
        let sourceX = (0..<visible.width).map { min(sw - 1, ((offsetX + $0) * 2 + 1) * sw / (target.width * 2)) * c }
        source.pixels.withUnsafeBufferPointer { src in
            image.pixels.withUnsafeMutableBufferPointer { dst in
                for row in 0..<visible.height {
                    let sy = min(sh - 1, ((offsetY + row) * 2 + 1) * sh / (target.height * 2))
                    let srcRow = sy * sw * c
                    var d = ((visible.y + row) * w + visible.x) * 3
                    for column in 0..<visible.width {
                        let i = srcRow + sourceX[column]
                        if alpha {
                            let a = UInt32(src[i + 3]), inv = 255 - a
                            for k in 0..<3 { dst[d + k] = UInt8((UInt32(src[i + k]) * a + UInt32(dst[d + k]) * inv + 127) / 255) }
                        } else {
                            dst[d] = src[i]
                            dst[d + 1] = src[i + 1]
                            dst[d + 2] = src[i + 2]
                        }
                        d += 3
                    }
                }
            }
        }
    }
}
