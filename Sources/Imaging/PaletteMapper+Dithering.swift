import Parallel

extension PaletteMapper {
    /// The 8x8 Bayer matrix, row-major, values 0...63: M(2n) = [[4M, 4M+2], [4M+3, 4M+1]].
    static let bayer8: [Int32] = {
        var m: [Int32] = [0]
        var side = 1
        while side < 8 {
            var next = [Int32](repeating: 0, count: 4 * side * side)
            for y in 0..<side {
                for x in 0..<side {
                    let v = 4 * m[y * side + x]
                    next[y * 2 * side + x] = v
                    next[y * 2 * side + x + side] = v + 2
                    next[(y + side) * 2 * side + x] = v + 3
                    next[(y + side) * 2 * side + x + side] = v + 1
                }
            }
            m = next
            side *= 2
        }
        return m
    }()

    /// Ordered-dither strength: per channel, the offset spans this fraction of d / sqrt(3), d the
    /// distance from the entry near the pixel (see `mapOrdered`) to that entry's nearest neighbour.
    /// Chosen on a 16-colour gradient (8x8 block means close to the original without much extra
    /// noise) and on the sample photo at 256 colours.
    static let orderedStrength = 1.25

    /// Per entry, the ordered-dither amplitude in 1/16 units per channel:
    /// a_i = 16 * strength * min_j |c_i - c_j| / sqrt(3).
    func orderedAmplitudes() -> [Int32] {
        let colors = palette.colors.map { (Int($0.r), Int($0.g), Int($0.b)) }
        return colors.enumerated().map { i, c in
            var nearest = Int.max
            for (j, o) in colors.enumerated() where j != i {
                let dr = c.0 - o.0, dg = c.1 - o.1, db = c.2 - o.2
                let d = dr * dr + dg * dg + db * db
                if d > 0 { nearest = min(nearest, d) }
            }
            guard nearest != Int.max else { return 0 }
            return Int32((16 * PaletteMapper.orderedStrength * Double(nearest).squareRoot() / 3.0.squareRoot()).rounded())
        }
    }

    /// Thresholds t * 128 = 2 * bayer + 1 - 64 in (-64, 64) for red, green and blue (64 each, row-major):
    /// the Bayer matrix, mirrored left-right, and mirrored top-bottom, so the three channels' offsets
    /// differ at every pixel and the offset vector points every way, not only along the grey axis.
    static let orderedThresholds: [Int32] = {
        let m = bayer8.map { 2 * $0 + 1 - 64 }
        return m + (0..<64).map { m[($0 >> 3) * 8 + 7 - ($0 & 7)] } + (0..<64).map { m[(7 - ($0 >> 3)) * 8 + ($0 & 7)] }
    }()

    /// Ordered dithering: p'_c = p_c + t_c(x mod 8, y mod 8) * a(cell(p)) per channel c, t_c in
    /// (-1/2, 1/2) from `orderedThresholds`, a(cell) the amplitude of the entry nearest to the centre
    /// of p's fine cell; then the nearest entry to p'. Rows split over cores; the result at a pixel
    /// depends only on its colour and position.
    func mapOrdered(_ image: RGBImage) -> [UInt16] {
        let width = image.width, channels = image.channels, hasAlpha = image.hasAlpha
        let amplitudes = orderedAmplitudes()
        // The largest |offset| (as computed below, t = 63), in whole fine cells (16 levels): build the
        // grid that far around the image's colours. Farther lookups would still be exact, only slower.
        let largestOffset = (63 * Int(amplitudes.max() ?? 0) + 1024) >> 11
        let reach = (largestOffset + 15) / 16
        let cells = NearestGrid.occupiedCells(of: image, margin: reach)
        let grid = NearestGrid(palette: palette, cells: cells)
        // Per fine cell (16 levels a side) holding some pixel, the amplitude of the entry nearest to its centre.
        let cellAmplitudes: [Int32] = grid.withSearch { search in
            (0..<4096).map { (cell: Int) -> Int32 in
                guard cells[cell] != 0 else { return 0 }
                let r = Int32(cell >> 8) << 4 | 8, g = Int32((cell >> 4) & 15) << 4 | 8, b = Int32(cell & 15) << 4 | 8
                return amplitudes[Int(search.nearest(r, g, b))]
            }
        }
        let thresholds = PaletteMapper.orderedThresholds
        let chunks = parallelChunkCount(image.height, grain: max(1, 16_384 / width))
        return PaletteMapper.filledIndices(count: image.width * image.height) { dst in
            image.pixels.withUnsafeBufferPointer { src in
                cellAmplitudes.withUnsafeBufferPointer { amplitude in
                    thresholds.withUnsafeBufferPointer { threshold in
                        grid.withSearch { search in
                            parallelChunks(image.height, chunks: chunks) { _, rows in
                                guard let srcBase = src.baseAddress, let dstBase = dst.baseAddress,
                                      let amplitude = amplitude.baseAddress, let threshold = threshold.baseAddress
                                else { return }
                                for y in rows {
                                    let row = srcBase + y * width * channels
                                    let out = dstBase + y * width
                                    let tRow = threshold + (y & 7) * 8
                                    for x in 0..<width {
                                        let p = row + x * channels
                                        if hasAlpha && p[3] < 128 {
                                            out[x] = IndexedImage.transparent
                                            continue
                                        }
                                        let r = Int32(p[0]), g = Int32(p[1]), b = Int32(p[2])
                                        let a = amplitude[Int(r >> 4) << 8 | Int(g >> 4) << 4 | Int(b >> 4)]
                                        // t/128 * a/16, rounded.
                                        let t = x & 7
                                        let dr = (tRow[t] * a + 1024) >> 11
                                        let dg = (tRow[64 + t] * a + 1024) >> 11
                                        let db = (tRow[128 + t] * a + 1024) >> 11
                                        let index = search.nearest(clampToByte(r + dr), clampToByte(g + dg), clampToByte(b + db))
                                        out[x] = UInt16(truncatingIfNeeded: index)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `v` limited to 0...255: clamp(v) = min(max(v, 0), 255).
@inline(__always) func clampToByte(_ v: Int32) -> Int32 {
    min(max(v, 0), 255)
}
