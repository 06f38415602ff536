import Foundation

/// One line of a plot: its name (for the legend), colour and points in data units.
public struct PlotSeries: Sendable {
    /// Shown in the legend; an empty name leaves the series out of it.
    public var name: String
    public var color: Canvas.Color
    /// Points in data units, drawn in order; a NaN or infinite point (or, on a log axis, y <= 0)
    /// is skipped and breaks the line there.
    public var points: [(x: Double, y: Double)]
    /// Drawn dashed (e.g. a reference curve).
    public var dashed: Bool
    /// Draw a dot on every point; nil: only when the series is short (at most `autoMarkerLimit` points).
    public var markers: Bool?
    /// Line width in pixels.
    public var lineWidth: Double

    /// Series with this many points or fewer get markers unless `markers` says otherwise.
    public static let autoMarkerLimit = 24

    public init(name: String, color: Canvas.Color, points: [(x: Double, y: Double)], dashed: Bool = false,
                markers: Bool? = nil, lineWidth: Double = 1.5) {
        self.name = name
        self.color = color
        self.points = points
        self.dashed = dashed
        self.markers = markers
        self.lineWidth = lineWidth
    }
}

/// How the y axis maps values to height.
public enum PlotScale: Sendable, Equatable {
    case linear
    /// Decades evenly spaced; values <= 0 are not drawn.
    case log10
}

/// A vertical "you are here" line at an x value, with an optional label at its top.
public struct PlotCursor: Sendable {
    public var x: Double
    public var label: String?
    /// nil: the theme's cursor colour.
    public var color: Canvas.Color?

    public init(x: Double, label: String? = nil, color: Canvas.Color? = nil) {
        self.x = x
        self.label = label
        self.color = color
    }
}

/// The colours of a plot's furniture, and a palette of clearly distinct series colours for it.
public struct PlotTheme: Sendable, Equatable {
    public var background: Canvas.Color
    public var axis: Canvas.Color
    public var grid: Canvas.Color
    public var text: Canvas.Color
    public var cursor: Canvas.Color
    /// Series colours in order, distinct from each other and readable on `background`.
    public var palette: [Canvas.Color]

    public init(background: Canvas.Color, axis: Canvas.Color, grid: Canvas.Color, text: Canvas.Color,
                cursor: Canvas.Color, palette: [Canvas.Color]) {
        self.background = background
        self.axis = axis
        self.grid = grid
        self.text = text
        self.cursor = cursor
        self.palette = palette
    }

    /// Light lines on near-black. The series colours are the colour-blind-safe Okabe-Ito set
    /// (sky blue, orange, bluish green, yellow, reddish purple, vermillion, blue) with white.
    public static let dark = PlotTheme(
        background: .init(r: 22, g: 22, b: 26), axis: .init(r: 160, g: 160, b: 170), grid: .init(r: 52, g: 52, b: 60),
        text: .init(r: 225, g: 225, b: 230), cursor: .init(r: 255, g: 255, b: 255),
        palette: [.init(r: 86, g: 180, b: 233), .init(r: 230, g: 159, b: 0), .init(r: 0, g: 178, b: 130),
                  .init(r: 240, g: 228, b: 66), .init(r: 214, g: 131, b: 177), .init(r: 233, g: 104, b: 20),
                  .init(r: 120, g: 140, b: 255), .init(r: 240, g: 240, b: 240)])

    /// Dark lines on white; the same hues, deeper where the light ones would wash out.
    public static let light = PlotTheme(
        background: .init(r: 255, g: 255, b: 255), axis: .init(r: 70, g: 70, b: 76), grid: .init(r: 226, g: 226, b: 230),
        text: .init(r: 20, g: 20, b: 24), cursor: .init(r: 0, g: 0, b: 0),
        palette: [.init(r: 0, g: 114, b: 178), .init(r: 213, g: 94, b: 0), .init(r: 0, g: 140, b: 100),
                  .init(r: 190, g: 160, b: 0), .init(r: 190, g: 90, b: 150), .init(r: 86, g: 180, b: 233),
                  .init(r: 90, g: 60, b: 200), .init(r: 40, g: 40, b: 40)])
}

/// Where a plot put its data area, and how data maps into it.
public struct PlotLayout: Sendable {
    /// The data area: series, grid and cursor are drawn inside it (the axes on its left and bottom edges).
    public let area: PixelRect
    /// The x range shown, in data units.
    public let xRange: (lower: Double, upper: Double)
    /// The y range shown, in data units (both positive on a log axis).
    public let yRange: (lower: Double, upper: Double)
    public let yScale: PlotScale

    /// The pixel column of x (fractional; far-off values are clamped to +-1e9, NaN stays NaN).
    public func pixelX(_ x: Double) -> Double {
        let t = (x - xRange.lower) / (xRange.upper - xRange.lower)
        return Self.bounded(Double(area.x) + t * Double(max(area.width - 1, 0)))
    }

    /// The pixel row of y (fractional; NaN for y <= 0 on a log axis).
    public func pixelY(_ y: Double) -> Double {
        let (v, lo, hi): (Double, Double, Double)
        switch yScale {
        case .linear: (v, lo, hi) = (y, yRange.lower, yRange.upper)
        case .log10:
            guard y > 0 else { return .nan }
            (v, lo, hi) = (Foundation.log10(y), Foundation.log10(yRange.lower), Foundation.log10(yRange.upper))
        }
        let t = (v - lo) / (hi - lo)
        return Self.bounded(Double(area.y + area.height - 1) - t * Double(max(area.height - 1, 0)))
    }

    static func bounded(_ v: Double) -> Double { v.isNaN ? v : min(max(v, -1e9), 1e9) }
}

/// A 2-D line chart drawn into a rectangle of a canvas: axes with tick labels, axis titles, any
/// number of series, a legend and an optional cursor. Ranges default to the data's; a range with
/// nothing in it (min == max, or no finite data) still draws, around the value.
public struct Plot: Sendable {
    public var series: [PlotSeries]
    /// nil: the finite data's extent.
    public var xRange: (lower: Double, upper: Double)?
    /// nil: the finite data's extent (positive values only on a log axis).
    public var yRange: (lower: Double, upper: Double)?
    public var yScale: PlotScale
    /// A line above the plot, centred.
    public var title: String?
    /// Below the x tick labels, centred.
    public var xTitle: String?
    /// Above the y axis, left-aligned (the font draws only horizontally).
    public var yTitle: String?
    public var cursor: PlotCursor?
    public var theme: PlotTheme
    /// BitmapFont scale for all text.
    public var textScale: Int
    public var showsLegend: Bool
    /// Fill the rectangle with the theme's background first.
    public var fillsBackground: Bool

    public init(series: [PlotSeries] = [], xRange: (lower: Double, upper: Double)? = nil,
                yRange: (lower: Double, upper: Double)? = nil, yScale: PlotScale = .linear,
                title: String? = nil, xTitle: String? = nil, yTitle: String? = nil, cursor: PlotCursor? = nil,
                theme: PlotTheme = .dark, textScale: Int = 1, showsLegend: Bool = true, fillsBackground: Bool = true) {
        self.series = series
        self.xRange = xRange
        self.yRange = yRange
        self.yScale = yScale
        self.title = title
        self.xTitle = xTitle
        self.yTitle = yTitle
        self.cursor = cursor
        self.theme = theme
        self.textScale = textScale
        self.showsLegend = showsLegend
        self.fillsBackground = fillsBackground
    }

    // MARK: Layout

    private var scale: Int { BitmapFont.clampedScale(textScale) }
    private static let padding = 4
    private static let tickLength = 3

    /// The resolved ranges and the data area this plot uses inside `rect`.
    public func layout(in rect: PixelRect) -> PlotLayout {
        let (xr, yr) = resolvedRanges()
        return layout(in: rect, xRange: xr, yRange: yr).layout
    }

    private func layout(in rect: PixelRect, xRange xr: (lower: Double, upper: Double), yRange yr: (lower: Double, upper: Double))
        -> (layout: PlotLayout, xTicks: [Double], yTicks: [Double]) {
        let rect = Self.bounded(rect)
        let s = scale, line = BitmapFont.lineAdvance * s, glyph = BitmapFont.glyphHeight * s
        var top = rect.y &+ Self.padding
        if title != nil { top = top &+ line + 2 }
        if yTitle != nil { top = top &+ line }
        var bottom = rect.maxY &- Self.padding &- glyph &- Self.tickLength &- 2
        if xTitle != nil { bottom = bottom &- line &- 2 }
        let estimatedHeight = max(bottom &- top, 1)
        let yTicks = ticks(yr, scale: yScale, count: min(max(estimatedHeight / (line * 3), 2), 8))
        let yLabelWidth = yTicks.map { BitmapFont.measure(Self.format($0), scale: s).width }.max() ?? 0
        let left = rect.x &+ Self.padding &+ yLabelWidth &+ Self.tickLength &+ 2
        let estimatedWidth = max(rect.maxX &- left, 1)
        let xTicks = ticks(xr, scale: .linear, count: min(max(estimatedWidth / (BitmapFont.advance * s * 10), 2), 10))
        let lastLabel = xTicks.last.map { BitmapFont.measure(Self.format($0), scale: s).width } ?? 0
        let right = rect.maxX &- max(Self.padding, lastLabel / 2 + 2)
        let area = PixelRect(x: left, y: top, width: max(right &- left, 0), height: max(bottom &- top, 0))
        return (PlotLayout(area: area, xRange: xr, yRange: yr, yScale: yScale), xTicks, yTicks)
    }

    private func resolvedRanges() -> (x: (lower: Double, upper: Double), y: (lower: Double, upper: Double)) {
        let finite = series.flatMap { $0.points }.filter { $0.x.isFinite && $0.y.isFinite && (yScale == .linear || $0.y > 0) }
        let x = Self.resolve(xRange, data: finite.map(\.x), log: false)
        let y = Self.resolve(yRange, data: finite.map(\.y), log: yScale == .log10)
        return (x, y)
    }

    /// A usable range: the given one when finite, else the data's, widened when empty and kept
    /// positive on a log axis.
    static func resolve(_ given: (lower: Double, upper: Double)?, data: [Double], log: Bool) -> (lower: Double, upper: Double) {
        var lo: Double, hi: Double
        let usable = data.filter { $0.isFinite && (!log || $0 > 0) }
        if let given, given.lower.isFinite, given.upper.isFinite {
            (lo, hi) = (min(given.lower, given.upper), max(given.lower, given.upper))
        } else if let first = usable.first {
            (lo, hi) = usable.reduce((first, first)) { (min($0.0, $1), max($0.1, $1)) }
        } else {
            (lo, hi) = log ? (1, 10) : (0, 1)
        }
        if log {
            if hi <= 0 { (lo, hi) = (1, 10) }
            if lo <= 0 { lo = usable.filter { $0 > 0 }.min() ?? hi / 1000 }
            lo = max(lo, Double.leastNormalMagnitude)
            if !(hi > lo) { (lo, hi) = (lo / 10.0.squareRoot(), hi * 10.0.squareRoot()) }
            if !hi.isFinite { hi = Double.greatestFiniteMagnitude }
        } else {
            lo = max(lo, -8e307)
            hi = min(hi, 8e307)
            if !(hi > lo) {
                let d = lo == 0 ? 1 : abs(lo) * 0.1
                (lo, hi) = (lo - d, hi + d)
            }
        }
        return (lo, hi)
    }

    /// Tick values inside the range: 1-2-5 steps on a linear axis, whole decades on a log one
    /// (every k-th when there are many; the ends when no decade falls inside).
    func ticks(_ range: (lower: Double, upper: Double), scale: PlotScale, count: Int) -> [Double] {
        let (lo, hi) = range
        switch scale {
        case .log10:
            let a = Foundation.log10(lo), b = Foundation.log10(hi)
            guard a.isFinite, b.isFinite, b > a else { return [lo, hi] }
            let first = Int(a.rounded(.up)), last = Int(b.rounded(.down))
            guard last >= first else { return [lo, hi] }
            // Every 1, 2, 5, 10, 20... decades, so at most `count` ticks, on multiples of the step.
            let n = max(count, 1)
            let needed = max(1, (last - first + n) / n)
            let step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].first { $0 >= needed } ?? needed
            let start = Int((Double(first) / Double(step)).rounded(.up)) * step
            let decades = stride(from: start, through: last, by: step).map { Foundation.pow(10.0, Double($0)) }
            return decades.count >= 2 ? decades : [lo] + decades + [hi]
        case .linear:
            let span = hi - lo
            guard span.isFinite, span > 0 else { return [lo, hi] }
            let raw = span / Double(max(count, 1))
            let magnitude = Foundation.pow(10.0, Foundation.log10(raw).rounded(.down))
            let normal = raw / magnitude
            let step = (normal < 1.5 ? 1 : normal < 2.25 ? 2 : normal < 3.5 ? 2.5 : normal < 7.5 ? 5 : 10) * magnitude
            guard step.isFinite, step > 0 else { return [lo, hi] }
            let start = (lo / step).rounded(.up) * step
            var values: [Double] = []
            for i in 0..<50 {
                var v = start + Double(i) * step
                if v > hi + step * 1e-9 { break }
                if abs(v) < step * 1e-9 { v = 0 }
                values.append(v)
            }
            return values.isEmpty ? [lo, hi] : values
        }
    }

    /// A tick value, compact: 0, 250, 1000, 0.5, 1e-4, 2.5e6.
    public static func format(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1e5 || magnitude < 1e-3 {
            var exponent = Int(Foundation.log10(magnitude).rounded(.down))
            // 10^exponent underflows to 0 below 1e-308: scale subnormal values up first.
            let scaled = exponent < -300 ? (value * 1e300, exponent + 300) : (value, exponent)
            var mantissa = (scaled.0 / Foundation.pow(10.0, Double(scaled.1)) * 100).rounded() / 100
            if abs(mantissa) >= 10 {
                mantissa /= 10
                exponent += 1
            }
            return trimmed(String(format: "%.2f", mantissa)) + "e\(exponent)"
        }
        let decimals = max(0, 3 - Int(Foundation.log10(magnitude).rounded(.down)))
        return trimmed(String(format: "%.\(decimals)f", value))
    }

    private static func trimmed(_ text: String) -> String {
        guard text.contains(".") else { return text }
        var t = Substring(text)
        while t.hasSuffix("0") { t = t.dropLast() }
        if t.hasSuffix(".") { t = t.dropLast() }
        return t == "-0" ? "0" : String(t)
    }

    // MARK: Drawing

    /// Draws the plot inside `rect` (clipped to it and to the canvas's clip, which is restored).
    public func draw(on canvas: inout Canvas, in rect: PixelRect) {
        let rect = Self.bounded(rect)
        let savedClip = canvas.clip
        defer { canvas.clip = savedClip }
        canvas.clip = rect.intersection(savedClip)
        guard !canvas.clip.isEmpty else { return }
        if fillsBackground { canvas.fill(rect, theme.background) }
        let (xr, yr) = resolvedRanges()
        let (layout, xTicks, yTicks) = self.layout(in: rect, xRange: xr, yRange: yr)
        let area = layout.area
        let s = scale, glyph = BitmapFont.glyphHeight * s, line = BitmapFont.lineAdvance * s
        var titleY = rect.y &+ Self.padding
        if let title {
            canvas.text(Self.fitted(title, width: rect.width, scale: s), centerX: rect.x &+ rect.width / 2, y: titleY, theme.text, scale: s)
            titleY = titleY &+ line + 2
        }
        if let yTitle {
            canvas.text(Self.fitted(yTitle, width: rect.width - Self.padding, scale: s), x: rect.x &+ Self.padding, y: titleY, theme.text, scale: s)
        }
        guard !area.isEmpty else { return }
        let bottom = area.maxY - 1

        // Grid, ticks and labels.
        for value in yTicks {
            let py = layout.pixelY(value)
            guard py.isFinite else { continue }
            let row = Int(py.rounded())
            canvas.fill(PixelRect(x: area.x, y: row, width: area.width, height: 1), theme.grid)
            canvas.fill(PixelRect(x: area.x - Self.tickLength, y: row, width: Self.tickLength, height: 1), theme.axis)
            let label = Self.format(value)
            let w = BitmapFont.measure(label, scale: s).width
            let labelY = min(max(row - glyph / 2, rect.y), area.maxY - glyph)
            canvas.text(label, x: area.x - Self.tickLength - 2 - w, y: labelY, theme.text, scale: s)
        }
        let labelWidths = xTicks.map { BitmapFont.measure(Self.format($0), scale: s).width }
        let spacing = xTicks.count > 1 ? abs(layout.pixelX(xTicks[1]) - layout.pixelX(xTicks[0])) : Double(area.width)
        let widest = Double((labelWidths.max() ?? 0) + 6 * s)
        let every = spacing > 0 && spacing.isFinite ? max(1, Int(min((widest / spacing).rounded(.up), 1000))) : 1
        for (i, value) in xTicks.enumerated() {
            let px = layout.pixelX(value)
            guard px.isFinite else { continue }
            let column = Int(px.rounded())
            canvas.fill(PixelRect(x: column, y: area.y, width: 1, height: area.height), theme.grid)
            canvas.fill(PixelRect(x: column, y: area.maxY, width: 1, height: Self.tickLength), theme.axis)
            if i % every == 0 {
                canvas.text(Self.format(value), centerX: column, y: area.maxY + Self.tickLength + 2, theme.text, scale: s)
            }
        }
        if let xTitle {
            canvas.text(Self.fitted(xTitle, width: area.width, scale: s), centerX: area.x + area.width / 2,
                        y: area.maxY + Self.tickLength + 2 + line + 2, theme.text, scale: s)
        }
        canvas.fill(PixelRect(x: area.x, y: area.y, width: 1, height: area.height), theme.axis)
        canvas.fill(PixelRect(x: area.x, y: bottom, width: area.width, height: 1), theme.axis)

        // Series and cursor, inside the data area only.
        canvas.clip = area.intersection(canvas.clip)
        for item in series {
            let mapped = item.points.map { (x: layout.pixelX($0.x), y: layout.pixelY($0.y)) }
            canvas.polyline(mapped, item.color, width: item.lineWidth, dash: item.dashed ? (on: 6, off: 4) : nil)
            let finiteCount = mapped.reduce(0) { $0 + ($1.x.isFinite && $1.y.isFinite ? 1 : 0) }
            if item.markers ?? (finiteCount <= PlotSeries.autoMarkerLimit) {
                for p in mapped { canvas.fillCircle(centerX: p.x, centerY: p.y, radius: max(2, item.lineWidth + 1), item.color) }
            }
        }
        var legendTop = area.y + 3
        if let cursor {
            let px = layout.pixelX(cursor.x)
            let color = cursor.color ?? theme.cursor
            canvas.line(from: px, Double(area.y), to: px, Double(bottom), color, width: 1)
            if let label = cursor.label, px.isFinite, !label.isEmpty {
                let column = Int(px.rounded())
                let text = Self.fitted(label, width: area.width - 6, scale: s)
                let w = BitmapFont.measure(text, scale: s).width
                // Right of the line where it fits, else left of it.
                let x = column + 3 + w <= area.maxX - 2 ? column + 3 : max(area.x + 2, column - 3 - w)
                canvas.fill(PixelRect(x: x - 1, y: area.y + 2, width: w + 2, height: glyph + 2), theme.background)
                canvas.text(text, x: x, y: area.y + 3, color, scale: s)
                legendTop += line + 3
            }
        }
        if showsLegend { drawLegend(on: &canvas, area: area, top: legendTop) }
    }

    private func drawLegend(on canvas: inout Canvas, area: PixelRect, top: Int) {
        let s = scale, line = BitmapFont.lineAdvance * s, glyph = BitmapFont.glyphHeight * s
        let sample = 16 * s
        let named = series.filter { !$0.name.isEmpty }
        guard !named.isEmpty else { return }
        let names = named.map { Self.fitted($0.name, width: max(area.width / 2, 1), scale: s) }
        let nameWidth = names.map { BitmapFont.measure($0, scale: s).width }.max() ?? 0
        let box = PixelRect(x: area.maxX - 4 - (nameWidth + sample + 12), y: top,
                            width: nameWidth + sample + 12, height: named.count * line + 6)
        canvas.fill(box, theme.background)
        canvas.strokeRect(box, theme.grid)
        for (i, (item, name)) in zip(named, names).enumerated() {
            let y = box.y + 4 + i * line
            let mid = Double(y + glyph / 2)
            let x0 = Double(box.x + 4), x1 = Double(box.x + 4 + sample)
            canvas.polyline([(x0, mid), (x1, mid)], item.color, width: item.lineWidth, dash: item.dashed ? (on: 4, off: 3) : nil)
            canvas.text(name, x: box.x + 8 + sample, y: y, theme.text, scale: s)
        }
    }

    /// The rectangle cut to +-2^24 pixels, far beyond any canvas, so layout arithmetic cannot overflow.
    static func bounded(_ rect: PixelRect) -> PixelRect {
        rect.intersection(PixelRect(x: -(1 << 24), y: -(1 << 24), width: 1 << 25, height: 1 << 25))
    }

    /// One line of text cut with "..." to fit `width` pixels.
    static func fitted(_ text: String, width: Int, scale: Int) -> String {
        let oneLine = text.replacingOccurrences(of: "\n", with: " ")
        return BitmapFont.wrap(oneLine, maxWidth: width, scale: scale, maxLines: 1).first ?? ""
    }
}
