import TerminalBytes

/// Draws an image with `▀` half-block characters: each character cell shows two stacked pixels,
/// the top one as foreground colour and the bottom one as background colour. A cell is about
/// twice as tall as wide, so each half is about square and the image keeps its aspect ratio.
public struct HalfBlockEncoder: Sendable {
    /// How colours are written.
    public enum Colors: Sendable {
        /// 24-bit `CSI 38;2;r;g;b m` colours.
        case truecolor
        /// The xterm 256-colour palette (`CSI 38;5;n m`): nearest of the 6x6x6 cube and the grey ramp.
        case palette256
    }

    /// The `▀` UPPER HALF BLOCK (U+2580) in UTF-8: foreground paints the top half.
    static let upperHalfBlock: [UInt8] = [0xE2, 0x96, 0x80]
    /// The `▄` LOWER HALF BLOCK (U+2584) in UTF-8: foreground paints the bottom half.
    static let lowerHalfBlock: [UInt8] = [0xE2, 0x96, 0x84]

    /// How colours are written.
    public var colors: Colors
    /// Pixels with alpha below this are left transparent (the terminal's own background).
    public var alphaThreshold: UInt8 = 128

    public init(colors: Colors = .truecolor) {
        self.colors = colors
    }

    /// Rows of cells an image of `width` x `height` pixels takes at `columns` columns, aspect kept.
    public static func rows(forWidth width: Int, height: Int, columns: Int) -> Int {
        max(1, Int((Double(height) * Double(columns) / Double(width) / 2).rounded()))
    }

    /// Columns that fit an image into at most `maxColumns` x `maxRows` cells, aspect kept, never
    /// more columns than the image has pixels across unless `enlarge`.
    public static func columns(forWidth width: Int, height: Int, maxColumns: Int, maxRows: Int, enlarge: Bool = false) -> Int {
        var columns = enlarge ? maxColumns : min(maxColumns, width)
        while columns > 1 && rows(forWidth: width, height: height, columns: columns) > maxRows {
            columns -= 1
        }
        return max(1, columns)
    }

    /// The image fitted to exactly `columns` columns (area-averaged when shrinking, nearest
    /// neighbour when enlarging) and encoded as lines of cells, each line ending with an
    /// attribute reset and a newline.
    public func encode(_ image: RGBImage, columns: Int) -> [UInt8] {
        let rows = Self.rows(forWidth: image.width, height: image.height, columns: columns)
        return encodeCells(image.fitted(width: columns, height: rows * 2))
    }

    /// Encodes an image that is already two pixels per cell: `image.height` must be even.
    public func encodeCells(_ image: RGBImage) -> [UInt8] {
        precondition(image.height % 2 == 0, "half-block images have an even number of pixel rows")
        var out: [UInt8] = []
        out.reserveCapacity(image.width * image.height / 2 * 24 + image.height * 8)
        var previous = Pair.none
        for row in 0..<(image.height / 2) {
            for x in 0..<image.width {
                let top = color(image, x, row * 2), bottom = color(image, x, row * 2 + 1)
                switch (top, bottom) {
                case (nil, nil):
                    if previous != .none { out.append(contentsOf: EscapeSequence.Bytes.resetAttributes) }
                    previous = .none
                    out.append(UInt8(ascii: " "))
                case let (t?, nil):
                    setColors(foreground: t, background: nil, previous: &previous, into: &out)
                    out.append(contentsOf: Self.upperHalfBlock)
                case let (nil, b?):
                    setColors(foreground: b, background: nil, previous: &previous, into: &out)
                    out.append(contentsOf: Self.lowerHalfBlock)
                case let (t?, b?):
                    setColors(foreground: t, background: b, previous: &previous, into: &out)
                    out.append(contentsOf: Self.upperHalfBlock)
                }
            }
            out.append(contentsOf: EscapeSequence.Bytes.resetAttributes)
            out.append(UInt8(ascii: "\n"))
            previous = .none
        }
        return out
    }

    /// A colour as written: an RGB triple for truecolor, an index for 256 colours.
    enum Ink: Equatable {
        case rgb(UInt8, UInt8, UInt8)
        case index(Int)
    }

    /// The colours currently set on the terminal.
    enum Pair: Equatable {
        case none
        case set(foreground: Ink, background: Ink?)
    }

    private func color(_ image: RGBImage, _ x: Int, _ y: Int) -> Ink? {
        var p = image.pixel(x: x, y: y)
        if p.a < alphaThreshold { return nil }
        if p.a < 255 {  // partly transparent: composite over black
            let a = UInt16(p.a)
            p.r = UInt8((UInt16(p.r) * a + 127) / 255); p.g = UInt8((UInt16(p.g) * a + 127) / 255); p.b = UInt8((UInt16(p.b) * a + 127) / 255)
        }
        switch colors {
        case .truecolor: return .rgb(p.r, p.g, p.b)
        case .palette256: return .index(Xterm256.nearest(r: p.r, g: p.g, b: p.b))
        }
    }

    private func setColors(foreground: Ink, background: Ink?, previous: inout Pair, into out: inout [UInt8]) {
        let wanted = Pair.set(foreground: foreground, background: background)
        if wanted == previous { return }
        var oldForeground: Ink?, oldBackground: Ink?? = nil
        if case let .set(f, b) = previous { oldForeground = f; oldBackground = .some(b) }
        out.append(contentsOf: EscapeSequence.Bytes.controlSequenceIntroducer)
        var first = true
        func separator() { if !first { out.append(UInt8(ascii: ";")) }; first = false }
        if oldForeground != foreground {
            separator()
            appendInk(foreground, base: 38, into: &out)
        }
        if oldBackground == nil || oldBackground! != background {
            separator()
            if let background { appendInk(background, base: 48, into: &out) } else { out.appendDecimal(49) }
        }
        out.append(UInt8(ascii: "m"))
        previous = wanted
    }

    private func appendInk(_ ink: Ink, base: Int, into out: inout [UInt8]) {
        out.appendDecimal(base)
        switch ink {
        case let .rgb(r, g, b):
            out.appendASCII(";2;")
            out.appendDecimal(Int(r)); out.append(UInt8(ascii: ";"))
            out.appendDecimal(Int(g)); out.append(UInt8(ascii: ";"))
            out.appendDecimal(Int(b))
        case let .index(n):
            out.appendASCII(";5;")
            out.appendDecimal(n)
        }
    }
}
