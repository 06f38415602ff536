import Foundation
import Parallel

/// The opaque pixels of an image in 64x64x64 bins (6 bits per channel), each with its pixel count and
/// exact channel sums, so a bin's mean colour is exact. Only non-empty bins are kept, in order of first
/// appearance. Supports the two stages of `PaletteQuantizer`: median cut, then k-means.
final class ColorHistogram {
    /// One non-empty bin.
    struct Bin {
        /// Bin coordinates packed as r6 << 12 | g6 << 6 | b6.
        var key: UInt32
        /// Pixels in the bin.
        var weight: UInt32
        /// Channel sums of the bin's pixels.
        var r: UInt32
        var g: UInt32
        var b: UInt32
        /// |sum|^2 / weight: the bin's part of SSE = sum_bins |s|^2/w - |S|^2/W.
        var energy: Double
    }

    /// A box of bins, `bins[range]`, with its totals and squared error about its mean.
    struct Box {
        var range: Range<Int>
        var weight: Int64
        var r: Int64
        var g: Int64
        var b: Int64
        var energy: Double

        /// Sum of squared distances of the box's bin means to the box mean, weighted by pixel count.
        var error: Double {
            weight > 0 ? max(0, energy - ColorHistogram.squaredLength(r, g, b) / Double(weight)) : 0
        }

        /// The box's mean colour.
        var mean: (Double, Double, Double) {
            let w = Double(weight)
            return (Double(r) / w, Double(g) / w, Double(b) / w)
        }
    }

    /// |(r, g, b)|^2 in floating point: channel sums reach 2^32, their squares overflow Int64.
    @inline(__always) static func squaredLength(_ r: Int64, _ g: Int64, _ b: Int64) -> Double {
        let x = Double(r), y = Double(g), z = Double(b)
        return x * x + y * y + z * z
    }

    /// The non-empty bins; the median cut reorders them so that every box owns a contiguous range.
    let bins: UnsafeMutablePointer<Bin>
    /// Number of non-empty bins.
    let count: Int

    /// Counts the opaque pixels (alpha >= 128) of `image`. UInt32 sums stay exact while a bin holds
    /// at most 2^32 / 255 pixels, so images over 16 megapixels are sampled with a stride.
    init(_ image: RGBImage) {
        let binCount = 1 << 18
        let pixelCount = image.width * image.height
        let step = max(1, (pixelCount + 16_000_000 - 1) / 16_000_000)
        // slot[bin] = 1 + the bin's row in `sums` (count, r, g, b), 0 while empty. calloc hands out
        // zeroed pages, so only the pages touched cost anything, here and in `sums`.
        let slot = calloc(binCount, MemoryLayout<UInt32>.stride).unsafelyUnwrapped.assumingMemoryBound(to: UInt32.self)
        defer { free(slot) }
        let capacity = min(binCount, pixelCount)
        let sums = calloc(capacity * 4, MemoryLayout<UInt32>.stride).unsafelyUnwrapped.assumingMemoryBound(to: UInt32.self)
        defer { free(sums) }
        let keys = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        defer { keys.deallocate() }
        var found: UInt32 = 0
        let channels = image.channels, hasAlpha = image.hasAlpha
        image.pixels.withUnsafeBufferPointer { src in
            guard let p = src.baseAddress else { return }
            for i in stride(from: 0, to: pixelCount, by: step) {
                let o = i &* channels
                if hasAlpha && p[o &+ 3] < 128 { continue }
                let r = UInt32(p[o]), g = UInt32(p[o &+ 1]), b = UInt32(p[o &+ 2])
                let bin = Int((r &>> 2) &<< 12 | (g &>> 2) &<< 6 | (b &>> 2))
                var id = slot[bin]
                if id == 0 {
                    keys[Int(found)] = UInt32(bin)
                    found &+= 1
                    id = found
                    slot[bin] = id
                }
                let h = sums + Int(id &- 1) &<< 2
                h[0] &+= 1
                h[1] &+= r
                h[2] &+= g
                h[3] &+= b
            }
        }
        count = Int(found)
        bins = .allocate(capacity: max(count, 1))
        for k in 0..<count {
            let h = sums + k << 2
            let w = Double(h[0]), r = Double(h[1]), g = Double(h[2]), b = Double(h[3])
            bins[k] = Bin(key: keys[k], weight: h[0], r: h[1], g: h[2], b: h[3], energy: (r * r + g * g + b * b) / w)
        }
    }

    deinit {
        bins.deallocate()
    }

    /// Totals of `bins[range]`.
    func box(_ range: Range<Int>) -> Box {
        var box = Box(range: range, weight: 0, r: 0, g: 0, b: 0, energy: 0)
        for i in range {
            let bin = bins[i]
            box.weight += Int64(bin.weight)
            box.r += Int64(bin.r)
            box.g += Int64(bin.g)
            box.b += Int64(bin.b)
            box.energy += bin.energy
        }
        return box
    }

    /// Splits boxes until there are `maxBoxes` or none has error left. Each step takes the box with the
    /// largest SSE and cuts it across the axis and plane that maximise |S_l|^2/W_l + |S_r|^2/W_r, i.e.
    /// minimise SSE_l + SSE_r, from per-plane totals of the box along all three axes.
    func medianCut(maxBoxes: Int) -> [Box] {
        guard count > 0 else { return [] }
        var boxes = [box(0..<count)]
        boxes.reserveCapacity(maxBoxes)
        var errors = [boxes[0].error]
        // Per axis and plane: weight, r, g, b sums (Int64) and energy (Double).
        let planes = UnsafeMutablePointer<Int64>.allocate(capacity: 3 * 64 * 4)
        defer { planes.deallocate() }
        let planeEnergy = UnsafeMutablePointer<Double>.allocate(capacity: 3 * 64)
        defer { planeEnergy.deallocate() }
        @inline(__always) func add(_ bin: Bin, toPlane plane: Int) {
            let p = planes + plane * 4
            p[0] += Int64(bin.weight)
            p[1] += Int64(bin.r)
            p[2] += Int64(bin.g)
            p[3] += Int64(bin.b)
            planeEnergy[plane] += bin.energy
        }
        while boxes.count < maxBoxes {
            var pick = -1
            var largest = 0.0
            for i in 0..<boxes.count where errors[i] > largest && boxes[i].range.count > 1 {
                largest = errors[i]
                pick = i
            }
            if pick < 0 { break }
            let target = boxes[pick]
            planes.update(repeating: 0, count: 3 * 64 * 4)
            planeEnergy.update(repeating: 0, count: 3 * 64)
            for i in target.range {
                let bin = bins[i]
                // Plane index per axis: axis * 64 + coordinate.
                add(bin, toPlane: Int(bin.key >> 12))
                add(bin, toPlane: 64 + Int((bin.key >> 6) & 63))
                add(bin, toPlane: 128 + Int(bin.key & 63))
            }
            var bestGain = -Double.infinity
            var best: (axis: Int, cut: Int, left: Box) = (-1, 0, target)
            for axis in 0..<3 {
                var left = Box(range: target.range, weight: 0, r: 0, g: 0, b: 0, energy: 0)
                for cut in 0..<63 {
                    let p = planes + (axis * 64 + cut) * 4
                    left.weight += p[0]
                    left.r += p[1]
                    left.g += p[2]
                    left.b += p[3]
                    left.energy += planeEnergy[axis * 64 + cut]
                    let rightWeight = target.weight - left.weight
                    if left.weight == 0 || p[0] == 0 { continue }
                    if rightWeight == 0 { break }
                    let r = (target.r - left.r, target.g - left.g, target.b - left.b)
                    let gain = ColorHistogram.squaredLength(left.r, left.g, left.b) / Double(left.weight)
                        + ColorHistogram.squaredLength(r.0, r.1, r.2) / Double(rightWeight)
                    if gain > bestGain {
                        bestGain = gain
                        best = (axis, cut, left)
                    }
                }
            }
            if best.axis < 0 {
                // All bins of the box share every coordinate: cannot happen for distinct bins.
                errors[pick] = 0
                continue
            }
            let shift = UInt32(12 - 6 * best.axis)
            var split = target.range.lowerBound
            for i in target.range where Int((bins[i].key >> shift) & 63) <= best.cut {
                let t = bins[i]
                bins[i] = bins[split]
                bins[split] = t
                split += 1
            }
            var left = best.left
            left.range = target.range.lowerBound..<split
            let right = Box(range: split..<target.range.upperBound, weight: target.weight - left.weight,
                            r: target.r - left.r, g: target.g - left.g, b: target.b - left.b,
                            energy: target.energy - left.energy)
            boxes[pick] = left
            errors[pick] = left.error
            boxes.append(right)
            errors.append(right.error)
        }
        return boxes
    }

    /// Weighted Lloyd iterations over the bins' mean colours, starting from the median-cut boxes: move
    /// each bin to its nearest centre, then each centre to the weighted mean of its bins (a centre left
    /// without bins stays). The search for a bin assigned to centre a only looks at a's `neighbours`
    /// nearest centres, and stops at the first c with |a - c| >= 2 |x - a| (no centre beyond can be
    /// closer to x: the triangle inequality). Stops early when nothing moves.
    func refine(_ boxes: [Box], passes: Int, neighbours: Int = 8) -> [(Double, Double, Double)] {
        let k = boxes.count
        var centres = boxes.map(\.mean)
        guard passes > 0, k > 1 else { return centres }
        let m = min(neighbours, k - 1)
        // Scratch: bin means (x, y, z per bin), centres (three arrays of k), neighbour lists, totals.
        let means = UnsafeMutablePointer<Float>.allocate(capacity: count * 3)
        defer { means.deallocate() }
        let assignment = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        defer { assignment.deallocate() }
        let centre = UnsafeMutablePointer<Float>.allocate(capacity: k * 3)
        defer { centre.deallocate() }
        let near = UnsafeMutablePointer<Int32>.allocate(capacity: k * m)
        defer { near.deallocate() }
        let nearDistance = UnsafeMutablePointer<Float>.allocate(capacity: k * m)
        defer { nearDistance.deallocate() }
        let totals = UnsafeMutablePointer<Int64>.allocate(capacity: k * 4)
        defer { totals.deallocate() }
        for (j, box) in boxes.enumerated() {
            for i in box.range {
                assignment[i] = Int32(j)
            }
        }
        for b in 0..<count {
            let bin = bins[b], w = Float(bin.weight)
            means[3 * b] = Float(bin.r) / w
            means[3 * b + 1] = Float(bin.g) / w
            means[3 * b + 2] = Float(bin.b) / w
        }
        let chunks = parallelChunkCount(count, grain: 4096)
        var moved = [Bool](repeating: false, count: chunks)
        for _ in 0..<passes {
            let cx = centre, cy = centre + k, cz = centre + 2 * k
            for j in 0..<k {
                cx[j] = Float(centres[j].0)
                cy[j] = Float(centres[j].1)
                cz[j] = Float(centres[j].2)
            }
            parallelChunks(k, chunks: chunks) { _, rows in
                let row = UnsafeMutablePointer<Float>.allocate(capacity: k)
                defer { row.deallocate() }
                for a in rows {
                    ColorHistogram.nearestCentres(to: a, count: k, centre: centre, row: row, keep: m,
                                                  ids: near + a * m, distances: nearDistance + a * m)
                }
            }
            moved.withUnsafeMutableBufferPointer { moved in
                parallelChunks(count, chunks: chunks) { chunk, range in
                    var changed = false
                    for b in range {
                        let a = Int(assignment[b])
                        let x = means[3 * b], y = means[3 * b + 1], z = means[3 * b + 2]
                        @inline(__always) func distance(_ c: Int) -> Float {
                            let dx = x - cx[c], dy = y - cy[c], dz = z - cz[c]
                            return dx * dx + dy * dy + dz * dz
                        }
                        let own = distance(a)
                        var best = own, bestCentre = a
                        let ids = near + a * m, ds = nearDistance + a * m
                        for j in 0..<m {
                            if ds[j] >= 4 * own { break }
                            let c = Int(ids[j])
                            let d = distance(c)
                            if d < best {
                                best = d
                                bestCentre = c
                            }
                        }
                        if bestCentre != a {
                            assignment[b] = Int32(bestCentre)
                            changed = true
                        }
                    }
                    moved[chunk] = changed
                }
            }
            if !moved.contains(true) { break }
            totals.update(repeating: 0, count: k * 4)
            for b in 0..<count {
                let bin = bins[b]
                let t = totals + Int(assignment[b]) * 4
                t[0] &+= Int64(bin.weight)
                t[1] &+= Int64(bin.r)
                t[2] &+= Int64(bin.g)
                t[3] &+= Int64(bin.b)
            }
            for j in 0..<k where totals[j * 4] > 0 {
                let w = Double(totals[j * 4])
                centres[j] = (Double(totals[j * 4 + 1]) / w, Double(totals[j * 4 + 2]) / w, Double(totals[j * 4 + 3]) / w)
            }
        }
        return centres
    }

    /// The `keep` centres nearest to centre `a` (other than a), nearest first, into `ids` and their
    /// squared distances into `distances`; `centre` holds x, y, z as three arrays of `count`.
    private static func nearestCentres(to a: Int, count k: Int, centre: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>,
                                       keep m: Int, ids: UnsafeMutablePointer<Int32>, distances ds: UnsafeMutablePointer<Float>) {
        let cx = centre, cy = centre + k, cz = centre + 2 * k
        let ax = cx[a], ay = cy[a], az = cz[a]
        for c in 0..<k {
            let dx = cx[c] - ax, dy = cy[c] - ay, dz = cz[c] - az
            row[c] = dx * dx + dy * dy + dz * dz
        }
        row[a] = .infinity
        var filled = 0
        var threshold = Float.infinity
        for c in 0..<k where row[c] < threshold || filled < m {
            let d = row[c]
            guard d.isFinite else { continue }
            var j = min(filled, m - 1)
            while j > 0 && ds[j - 1] > d {
                ds[j] = ds[j - 1]
                ids[j] = ids[j - 1]
                j -= 1
            }
            ds[j] = d
            ids[j] = Int32(c)
            filled = min(filled + 1, m)
            if filled == m { threshold = ds[m - 1] }
        }
    }
}
