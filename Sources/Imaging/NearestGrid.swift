import Parallel

/// Exact nearest-entry search over a palette (least squared RGB distance, lowest index on ties) through
/// a grid of RGB cells that each list only the entries that can be nearest to a point in the cell.
///
/// An entry can be nearest somewhere in a cell only if its least distance to the cell is at most the
/// smallest greatest distance of any entry to the cell; those entries form the cell's list. There are
/// two levels: an 8x8x8 coarse grid over the whole palette (cell r >> 5, g >> 5, b >> 5), always
/// complete, and a 16x16x16 fine grid (r >> 4, g >> 4, b >> 4) built from the coarse lists (a fine cell's list is a subset of its parent's), sorted by least
/// distance so a search can stop early. Fine cells may be built only where colours will be looked up;
/// a lookup in an unbuilt fine cell scans its coarse list instead, so every answer is exact.
struct NearestGrid: Sendable {
    /// Four consecutive entries of a list, compared at once. An entry is packed r << 24 | g << 16 |
    /// b << 8 | index; distances are compared as keys d << 8 | index (d <= 3 * 255^2 < 2^18), so the
    /// least key is the nearest entry with the lowest index. `minKey` is each entry's least squared
    /// distance to the fine cell, shifted the same way (unused in coarse lists). Lists are padded to
    /// whole blocks by repeating their last entry, which cannot change a minimum.
    struct Block: Sendable {
        var entry: SIMD4<Int32>
        var minKey: SIMD4<Int32>
    }

    /// A `fineRange` start marking a fine cell that was not built.
    static let unbuilt: Int32 = -1

    /// Blocks of coarse cell c: `coarseBlocks[coarseRange[2c] ..< coarseRange[2c + 1]]`, unsorted.
    let coarseRange: [Int32]
    let coarseBlocks: [Block]
    /// Blocks of fine cell c: `fineBlocks[fineRange[2c] ..< fineRange[2c + 1]]`, or `unbuilt`.
    let fineRange: [Int32]
    let fineBlocks: [Block]

    /// The grid for `palette`, with fine lists for the fine cells whose byte in `cells` (16^3, index
    /// r4 << 8 | g4 << 4 | b4) is non-zero, or for all cells when `cells` is nil.
    init(palette: Palette, cells: [UInt8]? = nil) {
        let tables = AxisTables(palette)
        defer { tables.deallocate() }
        let n = palette.count, padded = tables.padded
        // Coarse lists: per cell, entries whose least distance is at most the least farthest distance.
        var coarseIndex: [Int32] = []
        coarseIndex.reserveCapacity(512 * 64)
        var coarseStart = [Int32](repeating: 0, count: 513)
        let sums = UnsafeMutablePointer<Int32>.allocate(capacity: padded)
        defer { sums.deallocate() }
        for cell in 0..<512 {
            let r = cell >> 6, g = 8 + (cell >> 3) & 7, b = 16 + cell & 7
            let fr = tables.coarseFar + r * padded, fg = tables.coarseFar + g * padded, fb = tables.coarseFar + b * padded
            var bound = Int32.max
            for i in 0..<padded {
                bound = min(bound, fr[i] &+ fg[i] &+ fb[i])
            }
            let nr = tables.coarseNear + r * padded, ng = tables.coarseNear + g * padded, nb = tables.coarseNear + b * padded
            for i in 0..<padded {
                sums[i] = nr[i] &+ ng[i] &+ nb[i]
            }
            for i in 0..<n where sums[i] <= bound {
                coarseIndex.append(Int32(i))
            }
            coarseStart[cell + 1] = Int32(coarseIndex.count)
        }
        var coarseRange = [Int32](repeating: 0, count: 1024)
        var coarseBlocks: [Block] = []
        coarseBlocks.reserveCapacity(coarseIndex.count / 4 + 512)
        coarseIndex.withUnsafeBufferPointer { index in
            guard let index = index.baseAddress else { return }
            for cell in 0..<512 {
                coarseRange[2 * cell] = Int32(coarseBlocks.count)
                let start = Int(coarseStart[cell])
                NearestGrid.appendBlocks(keys: nil, indices: index + start, count: Int(coarseStart[cell + 1]) - start,
                                         minimumBlocks: 1, colors: tables.colors, to: &coarseBlocks)
                coarseRange[2 * cell + 1] = Int32(coarseBlocks.count)
            }
        }
        self.coarseRange = coarseRange
        self.coarseBlocks = coarseBlocks

        // Fine lists, by coarse parent, in parallel; each chunk fills its own block list.
        var fineRange = [Int32](repeating: NearestGrid.unbuilt, count: 2 * 4096)
        let chunks = parallelChunkCount(512, grain: 32) * 4
        var parts = [[Block]](repeating: [], count: chunks)
        parts.withUnsafeMutableBufferPointer { parts in
            fineRange.withUnsafeMutableBufferPointer { ranges in
                coarseIndex.withUnsafeBufferPointer { coarseIndex in
                    coarseStart.withUnsafeBufferPointer { coarseStart in
                        parallelChunks(512, chunks: chunks) { chunk, parents in
                            guard let ranges = ranges.baseAddress, let index = coarseIndex.baseAddress,
                                  let start = coarseStart.baseAddress else { return }
                            parts[chunk] = NearestGrid.fineLists(parents: parents, cells: cells, index: index, start: start,
                                                                 tables: tables, ranges: ranges)
                        }
                    }
                }
            }
        }
        // Each chunk's ranges are relative to its own list; shift them into the joined list.
        var base: Int32 = 0
        for chunk in 0..<chunks {
            for parent in (chunk * 512 / chunks)..<((chunk + 1) * 512 / chunks) {
                for k in 0..<8 {
                    let cell = NearestGrid.child(k, of: parent)
                    if fineRange[2 * cell] != NearestGrid.unbuilt {
                        fineRange[2 * cell] += base
                        fineRange[2 * cell + 1] += base
                    }
                }
            }
            base += Int32(parts[chunk].count)
        }
        self.fineRange = fineRange
        fineBlocks = chunks == 1 ? parts[0] : Array(parts.joined())
    }

    /// Sorted blocks for the wanted fine cells inside coarse cells `parents`, each from its parent's list
    /// (entry indices `index[start[p] ..< start[p + 1]]`); writes each built cell's range, relative to
    /// the returned blocks, into `ranges`.
    private static func fineLists(parents: Range<Int>, cells: [UInt8]?, index: UnsafePointer<Int32>, start: UnsafePointer<Int32>,
                                  tables t: AxisTables, ranges: UnsafeMutablePointer<Int32>) -> [Block] {
        var blocks: [Block] = []
        blocks.reserveCapacity(parents.count * 8 * 6)
        let keys = UnsafeMutablePointer<Int64>.allocate(capacity: t.count)
        defer { keys.deallocate() }
        let padded = t.padded
        for parent in parents {
            let members = index + Int(start[parent])
            let memberCount = Int(start[parent + 1] - start[parent])
            for k in 0..<8 {
                let cell = child(k, of: parent)
                if let cells, cells[cell] == 0 { continue }
                let r = cell >> 8, g = 16 + (cell >> 4) & 15, b = 32 + cell & 15
                let fr = t.fineFar + r * padded, fg = t.fineFar + g * padded, fb = t.fineFar + b * padded
                var bound = Int32.max
                for m in 0..<memberCount {
                    let i = Int(members[m])
                    bound = min(bound, fr[i] &+ fg[i] &+ fb[i])
                }
                let nr = t.fineNear + r * padded, ng = t.fineNear + g * padded, nb = t.fineNear + b * padded
                var count = 0
                for m in 0..<memberCount {
                    let i = Int(members[m])
                    let near = nr[i] &+ ng[i] &+ nb[i]
                    if near <= bound {
                        // Insertion sort by (least distance, index); lists are short.
                        let key = Int64(near) << 32 | Int64(i)
                        var j = count
                        while j > 0 && keys[j &- 1] > key {
                            keys[j] = keys[j &- 1]
                            j &-= 1
                        }
                        keys[j] = key
                        count &+= 1
                    }
                }
                ranges[2 * cell] = Int32(blocks.count)
                appendBlocks(keys: keys, indices: nil, count: count, minimumBlocks: 2, colors: t.colors, to: &blocks)
                ranges[2 * cell + 1] = Int32(blocks.count)
            }
        }
        return blocks
    }

    /// Per-axis squared distances from every entry to every slab of both grids: a cell's least or
    /// greatest distance is the sum over its three slabs (the cell is a product of intervals).
    private struct AxisTables {
        /// Palette entries, and that count rounded up to 16; padding entries are too far to matter.
        let count: Int
        let padded: Int
        /// r, g, b per entry.
        let colors: UnsafeMutablePointer<Int32>
        /// [axis * slabs + slab][entry]: least (near) and greatest (far) squared distance along the axis.
        let coarseNear: UnsafeMutablePointer<Int32>
        let coarseFar: UnsafeMutablePointer<Int32>
        let fineNear: UnsafeMutablePointer<Int32>
        let fineFar: UnsafeMutablePointer<Int32>

        init(_ palette: Palette) {
            count = palette.count
            padded = (count + 15) & ~15
            colors = .allocate(capacity: 3 * count)
            for (i, c) in palette.colors.enumerated() {
                colors[3 * i] = Int32(c.r)
                colors[3 * i + 1] = Int32(c.g)
                colors[3 * i + 2] = Int32(c.b)
            }
            coarseNear = .allocate(capacity: 3 * 8 * padded)
            coarseFar = .allocate(capacity: 3 * 8 * padded)
            fineNear = .allocate(capacity: 3 * 16 * padded)
            fineFar = .allocate(capacity: 3 * 16 * padded)
            // Larger than any real sum of three distances, small enough that three do not overflow.
            let far: Int32 = 1 << 24
            for (near, farthest, slabs) in [(coarseNear, coarseFar, 8), (fineNear, fineFar, 16)] {
                near.initialize(repeating: far, count: 3 * slabs * padded)
                farthest.initialize(repeating: far, count: 3 * slabs * padded)
                let size = Int32(256 / slabs)
                for axis in 0..<3 {
                    for slab in 0..<slabs {
                        let lo = Int32(slab) * size, hi = lo + size - 1
                        let row = (axis * slabs + slab) * padded
                        for i in 0..<count {
                            let v = colors[3 * i + axis]
                            let d = v < lo ? lo - v : (v > hi ? v - hi : 0)
                            near[row + i] = d * d
                            let f = max(v - lo, hi - v)
                            farthest[row + i] = f * f
                        }
                    }
                }
            }
        }

        func deallocate() {
            colors.deallocate()
            coarseNear.deallocate()
            coarseFar.deallocate()
            fineNear.deallocate()
            fineFar.deallocate()
        }
    }

    /// Appends `count` entries as blocks of four: from sorted `keys` (least distance << 32 | index),
    /// or from plain `indices` (least distance 0).
    private static func appendBlocks(keys: UnsafePointer<Int64>?, indices: UnsafePointer<Int32>?, count: Int, minimumBlocks: Int,
                                     colors: UnsafePointer<Int32>, to blocks: inout [Block]) {
        guard count > 0 else { return }
        var entry = SIMD4<Int32>.zero, minKey = SIMD4<Int32>.zero
        for c in 0..<max((count + 3) & ~3, 4 * minimumBlocks) {
            let k = min(c, count - 1)
            let key = keys?[k] ?? Int64(indices?[k] ?? 0)
            let i = Int(key & 0xFF)
            entry[c & 3] = colors[3 * i] << 24 | colors[3 * i + 1] << 16 | colors[3 * i + 2] << 8 | Int32(i)
            minKey[c & 3] = Int32(truncatingIfNeeded: key >> 32) << 8
            if c & 3 == 3 {
                blocks.append(Block(entry: entry, minKey: minKey))
            }
        }
    }

    /// Fine cell `k` (0..<8) inside coarse cell `parent` (r3 << 6 | g3 << 3 | b3).
    @inline(__always) static func child(_ k: Int, of parent: Int) -> Int {
        let r = 2 * (parent >> 6) + (k >> 2), g = 2 * ((parent >> 3) & 7) + ((k >> 1) & 1), b = 2 * (parent & 7) + (k & 1)
        return r << 8 | g << 4 | b
    }

    /// The fine cells holding some pixel of `image` (alpha >= 128), each widened by `margin` cells
    /// in every direction: a mask for `init(palette:cells:)`.
    static func occupiedCells(of image: RGBImage, margin: Int) -> [UInt8] {
        var cells = [UInt8](repeating: 0, count: 4096)
        let channels = image.channels, hasAlpha = image.hasAlpha
        image.pixels.withUnsafeBufferPointer { src in
            cells.withUnsafeMutableBufferPointer { cells in
                guard let p = src.baseAddress, let mark = cells.baseAddress else { return }
                for o in stride(from: 0, to: src.count, by: channels) where !(hasAlpha && p[o + 3] < 128) {
                    mark[Int(p[o] >> 4) << 8 | Int(p[o + 1] >> 4) << 4 | Int(p[o + 2] >> 4)] = 1
                }
            }
        }
        guard margin > 0 else { return cells }
        var widened = cells
        for cell in 0..<4096 where cells[cell] != 0 {
            let r = cell >> 8, g = (cell >> 4) & 15, b = cell & 15
            for nr in max(0, r - margin)...min(15, r + margin) {
                for ng in max(0, g - margin)...min(15, g + margin) {
                    for nb in max(0, b - margin)...min(15, b + margin) {
                        widened[nr << 8 | ng << 4 | nb] = 1
                    }
                }
            }
        }
        return widened
    }

    /// Calls `body` with a search over raw pointers to the grid, for hot loops.
    func withSearch<R>(_ body: (Search) -> R) -> R {
        coarseRange.withUnsafeBufferPointer { coarseRange in
            coarseBlocks.withUnsafeBufferPointer { coarseBlocks in
                fineRange.withUnsafeBufferPointer { fineRange in
                    fineBlocks.withUnsafeBufferPointer { fineBlocks in
                        // Every coarse cell lists at least one entry, so only `fineBlocks` can be empty;
                        // a dangling pointer is never read because no fine range is built then.
                        body(Search(coarseRange: coarseRange.baseAddress.unsafelyUnwrapped,
                                    coarseBlocks: coarseBlocks.baseAddress.unsafelyUnwrapped,
                                    fineRange: fineRange.baseAddress.unsafelyUnwrapped,
                                    fineBlocks: fineBlocks.baseAddress ?? coarseBlocks.baseAddress.unsafelyUnwrapped))
                    }
                }
            }
        }
    }

    /// The grid as raw pointers; valid only inside `withSearch`.
    struct Search {
        let coarseRange: UnsafePointer<Int32>
        let coarseBlocks: UnsafePointer<Block>
        let fineRange: UnsafePointer<Int32>
        let fineBlocks: UnsafePointer<Block>

        /// Keys of block `e` for colour (r, g, b): (dr^2 + dg^2 + db^2) << 8 | index, four at once.
        @inline(__always) private func keys(_ e: SIMD4<Int32>, _ r: SIMD4<Int32>, _ g: SIMD4<Int32>, _ b: SIMD4<Int32>) -> SIMD4<Int32> {
            let dr = r &- (e &>> 24) & 0xFF, dg = g &- (e &>> 16) & 0xFF, db = b &- (e &>> 8) & 0xFF
            return (dr &* dr &+ dg &* dg &+ db &* db) &<< 8 | e & 0xFF
        }

        /// The index of the entry nearest to (r, g, b), each 0...255. In a built fine cell, blocks are
        /// scanned while their least key does not exceed the best key found; otherwise the whole
        /// coarse list is scanned.
        @inline(__always) func nearest(_ r: Int32, _ g: Int32, _ b: Int32) -> Int32 {
            // A no-op for valid input that tells the compiler products fit 16 bits.
            let r = r & 0xFF, g = g & 0xFF, b = b & 0xFF
            let rv = SIMD4(repeating: r), gv = SIMD4(repeating: g), bv = SIMD4(repeating: b)
            let fine = Int((r &>> 4) &<< 8 | (g &>> 4) &<< 4 | (b &>> 4))
            var i = Int(fineRange[2 &* fine])
            if i >= 0 {
                let end = Int(fineRange[2 &* fine &+ 1])
                // Fine lists hold at least two blocks: both are checked without a branch.
                var best = pointwiseMin(keys(fineBlocks[i].entry, rv, gv, bv), keys(fineBlocks[i &+ 1].entry, rv, gv, bv))
                i &+= 2
                while i < end && fineBlocks[i].minKey[0] <= best.min() {
                    best = pointwiseMin(best, keys(fineBlocks[i].entry, rv, gv, bv))
                    i &+= 1
                }
                return best.min() & 0xFF
            }
            let coarse = Int((r &>> 5) &<< 6 | (g &>> 5) &<< 3 | (b &>> 5))
            i = Int(coarseRange[2 &* coarse])
            let end = Int(coarseRange[2 &* coarse &+ 1])
            var best = SIMD4<Int32>(repeating: .max)
            while i < end {
                best = pointwiseMin(best, keys(coarseBlocks[i].entry, rv, gv, bv))
                i &+= 1
            }
            return best.min() & 0xFF
        }
    }
}
