import Parallel

/// Maps images onto a palette: every pixel becomes the index of its nearest entry (least squared RGB
/// distance, lowest index on ties), optionally dithered. Lookups go through a `NearestGrid` built for
/// the colours each image actually has.
public struct PaletteMapper: Sendable {
    /// The palette mapped onto.
    public let palette: Palette

    /// A mapper onto `palette`.
    public init(palette: Palette) {
        self.palette = palette
    }

    /// Maps every pixel to its palette index, with `dither` spreading the difference; pixels with
    /// alpha below 128 become `IndexedImage.transparent`.
    public func map(_ image: RGBImage, dither: Dither = .none) -> IndexedImage {
        let indices: [UInt16]
        switch dither {
        case .none:
            indices = mapNearest(image, grid: NearestGrid(palette: palette, cells: NearestGrid.occupiedCells(of: image, margin: 0)))
        case .ordered:
            indices = mapOrdered(image)
        case .diffusion:
            // Diffused error moves colours a little past the image's own cells; farther is still exact, only slower.
            indices = mapDiffusion(image, grid: NearestGrid(palette: palette, cells: NearestGrid.occupiedCells(of: image, margin: 1)))
        }
        return IndexedImage(width: image.width, height: image.height, palette: palette, indices: indices)
    }

    /// An index buffer of `count` entries, left uninitialised for `fill`, which must write every one.
    @inline(__always) static func filledIndices(count: Int, _ fill: (UnsafeMutableBufferPointer<UInt16>) -> Void) -> [UInt16] {
        // Empty: the shared empty array (see Tensor's uninitialised init).
        guard count > 0 else { return [] }
        return [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer)
            initialized = count
        }
    }

    /// Plain nearest-colour mapping, rows split over cores; runs of one colour reuse the last answer.
    func mapNearest(_ image: RGBImage, grid: NearestGrid) -> [UInt16] {
        let width = image.width, channels = image.channels, hasAlpha = image.hasAlpha
        let chunks = parallelChunkCount(image.height, grain: max(1, 16_384 / width))
        return PaletteMapper.filledIndices(count: image.width * image.height) { dst in
            image.pixels.withUnsafeBufferPointer { src in
                grid.withSearch { search in
                    parallelChunks(image.height, chunks: chunks) { _, rows in
                        guard let srcBase = src.baseAddress, let dstBase = dst.baseAddress else { return }
                        var lastKey = UInt32.max
                        var lastIndex: UInt16 = 0
                        for y in rows {
                            let row = srcBase + y * width * channels
                            let out = dstBase + y * width
                            for x in 0..<width {
                                let p = row + x * channels
                                if hasAlpha && p[3] < 128 {
                                    out[x] = IndexedImage.transparent
                                    continue
                                }
                                let key = UInt32(p[0]) << 16 | UInt32(p[1]) << 8 | UInt32(p[2])
                                if key != lastKey {
                                    lastKey = key
                                    lastIndex = UInt16(truncatingIfNeeded: search.nearest(Int32(p[0]), Int32(p[1]), Int32(p[2])))
                                }
                                out[x] = lastIndex
                            }
                        }
                    }
                }
            }
        }
    }
}
