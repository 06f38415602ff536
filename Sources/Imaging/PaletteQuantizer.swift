/// Chooses at most `maxColors` colours for an image. An image with that few distinct colours keeps
/// them exactly; otherwise a variance-based median cut over a 6-bit-per-channel histogram (Wu-like:
/// always split the box with the largest squared error, where the split loses the most error) is
/// refined by weighted k-means over the histogram bins (see `ColorHistogram`). Pixels with alpha
/// below 128 are ignored.
public struct PaletteQuantizer: Sendable {
    /// Largest number of colours, 2...256 (values outside are clamped).
    public var maxColors: Int
    /// Weighted k-means (Lloyd) passes over the histogram bins after the median cut.
    public var refinementPasses: Int
    /// Move every channel to a value a sixel colour register (percent 0-100) represents exactly,
    /// so the palette survives the trip through the terminal unchanged.
    public var percentExact: Bool

    /// A quantiser with the given limits.
    public init(maxColors: Int = 256, refinementPasses: Int = 4, percentExact: Bool = true) {
        self.maxColors = maxColors
        self.refinementPasses = refinementPasses
        self.percentExact = percentExact
    }

    /// The palette for `image`; a single black entry when every pixel is transparent.
    public func palette(for image: RGBImage) -> Palette {
        let limit = min(max(maxColors, 2), Palette.maxCount)
        let colors: [Palette.Color]
        if let exact = exactColors(image, limit: limit) {
            colors = exact
        } else {
            let histogram = ColorHistogram(image)
            let boxes = histogram.medianCut(maxBoxes: limit)
            colors = histogram.refine(boxes, passes: refinementPasses).map { c in
                Palette.Color(r: UInt8(c.0.rounded()), g: UInt8(c.1.rounded()), b: UInt8(c.2.rounded()))
            }
        }
        var result = percentExact ? colors.map(Palette.percentRounded) : colors
        result = deduplicated(result)
        return Palette(result.isEmpty ? [Palette.Color(r: 0, g: 0, b: 0)] : result)
    }

    /// The image's distinct opaque colours in order of first appearance, or nil when there are more
    /// than `limit` (at most 256). Open addressing over 24-bit keys; stops at the first colour too many.
    func exactColors(_ image: RGBImage, limit: Int) -> [Palette.Color]? {
        let bits = 11  // 2048 slots for at most 256 keys.
        let empty = UInt32.max
        var table = [UInt32](repeating: empty, count: 1 << bits)
        var found: [Palette.Color] = []
        let channels = image.channels, hasAlpha = image.hasAlpha
        let complete = image.pixels.withUnsafeBufferPointer { src -> Bool in
            table.withUnsafeMutableBufferPointer { table -> Bool in
                guard let p = src.baseAddress, let slots = table.baseAddress else { return true }
                var last = empty
                for o in stride(from: 0, to: src.count, by: channels) {
                    if hasAlpha && p[o + 3] < 128 { continue }
                    let key = UInt32(p[o]) << 16 | UInt32(p[o + 1]) << 8 | UInt32(p[o + 2])
                    if key == last { continue }
                    last = key
                    var slot = Int((key &* 0x9E37_79B1) >> UInt32(32 - bits))
                    while slots[slot] != empty && slots[slot] != key {
                        slot = (slot + 1) & ((1 << bits) - 1)
                    }
                    if slots[slot] == empty {
                        if found.count == limit { return false }
                        slots[slot] = key
                        found.append(Palette.Color(r: p[o], g: p[o + 1], b: p[o + 2]))
                    }
                }
                return true
            }
        }
        return complete ? found : nil
    }

    /// `colors` without repeats, first occurrences kept in order.
    private func deduplicated(_ colors: [Palette.Color]) -> [Palette.Color] {
        var seen = Set<Palette.Color>()
        return colors.filter { seen.insert($0).inserted }
    }
}

