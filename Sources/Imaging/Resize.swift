import Parallel


/// How `resized` samples the source.
public enum ResizeFilter: Sendable {
    /// Each output pixel is the exact area-weighted mean of the source pixels it covers (box
    /// filter with fractional edges): the right filter for shrinking.
    case area
    /// Each output pixel copies the source pixel under its centre: crisp enlarging.
    case nearest
}

extension RGBImage {
    /// The image scaled to `width` x `height` with `filter`. Area sampling averages with
    /// premultiplied alpha, so transparent pixels do not darken their neighbours.
    public func resized(width newWidth: Int, height newHeight: Int, filter: ResizeFilter) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0, "resize target must be positive")
        if newWidth == width && newHeight == height { return self }
        switch filter {
        case .nearest: return nearestResized(width: newWidth, height: newHeight)
        case .area: return areaResized(width: newWidth, height: newHeight)
        }
    }

    /// The image scaled to `width` x `height`: area sampling when either side shrinks, nearest
    /// neighbour when both grow (so small images, like 64x64 latents decoded, stay crisp).
    public func fitted(width newWidth: Int, height newHeight: Int) -> RGBImage {
        let filter: ResizeFilter = (newWidth >= width && newHeight >= height) ? .nearest : .area
        return resized(width: newWidth, height: newHeight, filter: filter)
    }

    /// The largest size with this image's aspect ratio inside `maxWidth` x `maxHeight`
    /// (at least 1x1), never enlarged unless `enlarge`.
    public func sizeFitting(maxWidth: Int, maxHeight: Int, enlarge: Bool = false) -> (width: Int, height: Int) {
        var scale = min(Double(maxWidth) / Double(width), Double(maxHeight) / Double(height))
        if !enlarge { scale = min(scale, 1) }
        let w = max(1, min(maxWidth, Int((Double(width) * scale).rounded())))
        let h = max(1, min(maxHeight, Int((Double(height) * scale).rounded())))
        return (w, h)
    }

    private func nearestResized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        let c = channels
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * c)
        let sourceX = (0..<newWidth).map { min(width - 1, ($0 * 2 + 1) * width / (newWidth * 2)) * c }
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<newHeight {
                    let sy = min(height - 1, (y * 2 + 1) * height / (newHeight * 2))
                    let srcRow = sy * width * c
                    let dstRow = y * newWidth * c
                    for x in 0..<newWidth {
                        for k in 0..<c { dst[dstRow + x * c + k] = src[srcRow + sourceX[x] + k] }
                    }
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, hasAlpha: hasAlpha, pixels: out)
    }

    private func areaResized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        let c = channels, alpha = hasAlpha, sourceWidth = width, sourceHeight = height
        let horizontal = AreaWeights(source: width, target: newWidth)
        let vertical = AreaWeights(source: height, target: newHeight)
        // Pass 1: source rows resampled horizontally, premultiplied by alpha: [height, newWidth, c].
        var rows = [Float](repeating: 0, count: height * newWidth * c)
        pixels.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                parallelRows(sourceHeight) { y in
                    let srcRow = s + y * sourceWidth * c, dstRow = d + y * newWidth * c
                    for x in 0..<newWidth {
                        var r: Float = 0, g: Float = 0, b: Float = 0, a: Float = 0
                        for k in 0..<horizontal.counts[x] {
                            let p = srcRow + (horizontal.starts[x] + k) * c
                            var w = horizontal.weights[horizontal.offsets[x] + k]
                            if alpha { w *= Float(p[3]); a += w }
                            r += Float(p[0]) * w; g += Float(p[1]) * w; b += Float(p[2]) * w
                        }
                        let o = dstRow + x * c
                        o[0] = r; o[1] = g; o[2] = b
                        if alpha { o[3] = a }
                    }
                }
            }
        }
        // Pass 2: columns resampled vertically, un-premultiplied and rounded.
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * c)
        rows.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                let stride = newWidth * c
                parallelRows(newHeight) { y in
                    for x in 0..<newWidth {
                        var r: Float = 0, g: Float = 0, b: Float = 0, a: Float = 0
                        for k in 0..<vertical.counts[y] {
                            let p = s + (vertical.starts[y] + k) * stride + x * c
                            let w = vertical.weights[vertical.offsets[y] + k]
                            r += p[0] * w; g += p[1] * w; b += p[2] * w
                            if alpha { a += p[3] * w }
                        }
                        let o = d + y * stride + x * c
                        if alpha {
                            let inverse: Float = a > 0 ? 1 / a : 0
                            r *= inverse; g *= inverse; b *= inverse
                            o[3] = UInt8(clamping: Int(a + 0.5))
                        }
                        o[0] = UInt8(clamping: Int(r + 0.5)); o[1] = UInt8(clamping: Int(g + 0.5)); o[2] = UInt8(clamping: Int(b + 0.5))
                    }
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, hasAlpha: alpha, pixels: out)
    }
}

/// Runs `body(row)` for every row in 0..<count, split into chunks of at least four rows over the
/// threads `--threads` allows.
func parallelRows(_ count: Int, _ body: (Int) -> Void) {
    parallelChunks(count, grain: 4) { rows in
        for y in rows { body(y) }
    }
}

/// Area weights along one axis: output i covers source [i*s/t, (i+1)*s/t); each source pixel
/// weighs its overlap with that span divided by the span's length.
struct AreaWeights {
    /// First source index of each output sample.
    var starts: [Int] = []
    /// Number of source samples each output sample covers.
    var counts: [Int] = []
    /// Where each output sample's weights begin in `weights`.
    var offsets: [Int] = []
    /// Weights of consecutive source samples from `starts[i]`, each run summing to 1.
    var weights: [Float] = []

    init(source: Int, target: Int) {
        let scale = Double(source) / Double(target)
        for i in 0..<target {
            let lo = Double(i) * scale, hi = Double(i + 1) * scale
            let first = Int(lo.rounded(.down)), last = min(source - 1, Int(hi.rounded(.up)) - 1)
            starts.append(first)
            offsets.append(weights.count)
            for j in first...max(first, last) {
                let overlap = min(hi, Double(j + 1)) - max(lo, Double(j))
                weights.append(Float(max(0, overlap) / (hi - lo)))
            }
            counts.append(weights.count - offsets[i])
        }
    }
}
