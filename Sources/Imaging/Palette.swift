/// An ordered list of at most 256 colours that an image is reduced to; an entry's position is its index.
public struct Palette: Sendable, Equatable {
    /// One palette colour, 8 bits per channel.
    public struct Color: Sendable, Hashable {
        /// Red, 0-255.
        public var r: UInt8
        /// Green, 0-255.
        public var g: UInt8
        /// Blue, 0-255.
        public var b: UInt8

        /// A colour from its three channels.
        public init(r: UInt8, g: UInt8, b: UInt8) {
            self.r = r
            self.g = g
            self.b = b
        }
    }

    /// The largest number of entries a palette may hold.
    public static let maxCount = 256

    /// The entries, at most `maxCount`.
    public let colors: [Color]

    /// A palette over `colors`; there must be at least one and at most `maxCount`.
    public init(_ colors: [Color]) {
        precondition(!colors.isEmpty && colors.count <= Palette.maxCount, "a palette holds 1...256 colours")
        self.colors = colors
    }

    /// The number of entries.
    @inlinable public var count: Int { colors.count }

    /// The entry at `index`.
    @inlinable public subscript(index: Int) -> Color { colors[index] }

    /// The index of the entry nearest to (r, g, b) by squared RGB distance, the lowest index on ties.
    /// This is the brute-force reference `PaletteMapper` is tested against.
    public func nearestIndexBruteForce(r: Int, g: Int, b: Int) -> Int {
        var best = Int.max
        var bestIndex = 0
        for (i, c) in colors.enumerated() {
            let dr = r - Int(c.r), dg = g - Int(c.g), db = b - Int(c.b)
            let d = dr * dr + dg * dg + db * db
            if d < best {
                best = d
                bestIndex = i
            }
        }
        return bestIndex
    }
}

// MARK: - Sixel percent levels

extension Palette {
    /// The 8-bit value a sixel decoder gives a register channel of `percent` (0-100): (p*255+50)/100,
    /// the rounding libsixel uses (xterm's differs by at most 1).
    @inlinable public static func value(ofPercent percent: Int) -> UInt8 {
        UInt8((percent * 255 + 50) / 100)
    }

    /// The percent (0-100) that stores `value`: round(v*100/255). Exact for values `percentLevel(of:)` returns.
    @inlinable public static func percent(of value: UInt8) -> Int {
        (Int(value) * 100 + 127) / 255
    }

    /// The 8-bit value nearest to `value` that a percent register represents exactly (101 levels).
    @inlinable public static func percentLevel(of value: UInt8) -> UInt8 {
        percentLevels[Int(value)]
    }

    /// `percentLevel(of:)` for every byte: the exactly representable value nearest to each v.
    public static let percentLevels: [UInt8] = (0...255).map { v in
        var best = 0
        var bestDistance = Int.max
        for p in 0...100 {
            let d = abs(Int(value(ofPercent: p)) - v)
            if d < bestDistance {
                bestDistance = d
                best = Int(value(ofPercent: p))
            }
        }
        return UInt8(best)
    }

    /// The colour with each channel moved to its nearest percent-representable value.
    @inlinable public static func percentRounded(_ c: Color) -> Color {
        Color(r: percentLevel(of: c.r), g: percentLevel(of: c.g), b: percentLevel(of: c.b))
    }
}
