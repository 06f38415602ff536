import Parallel

extension SixelEncoder {
    /// The band data of `image`, in consecutive pieces: for each band of six rows, one run-length-coded
    /// bit row per colour used in it (`#reg` data, `$` between colours), and `-` after every band but
    /// the last. `registers[i]` is palette entry i's register. Groups of bands are encoded in parallel.
    static func encodeBands(_ image: IndexedImage, registers: [Int32]) -> [[UInt8]] {
        let bandCount = (image.height + 5) / 6
        let chunks = parallelChunkCount(bandCount, grain: max(1, 8_192 / image.width))
        var parts = [[UInt8]](repeating: [], count: chunks)
        parts.withUnsafeMutableBufferPointer { parts in
            image.indices.withUnsafeBufferPointer { indices in
                registers.withUnsafeBufferPointer { registers in
                    parallelChunks(bandCount, chunks: chunks) { chunk, bands in
                        guard let indices = indices.baseAddress, let registers = registers.baseAddress else { return }
                        // About 1.5 bytes per pixel is typical for photos; the writer grows if needed.
                        let capacity = bands.count * 6 * image.width * 3 / 2 + 256
                        let writer = BandWriter(width: image.width, height: image.height, colorCount: image.palette.count,
                                                outputCapacity: capacity)
                        for band in bands {
                            writer.encodeBand(band, indices: indices, registers: registers, last: band == bandCount - 1)
                        }
                        parts[chunk] = writer.output.bytes()
                    }
                }
            }
        }
        return parts
    }
}

/// Scratch state for encoding bands. A band is read column by column: each column's six pixels give
/// a sixel byte per distinct entry, kept as (column, byte) pairs; grouped by entry (a counting sort,
/// so columns stay in order) they are each entry's row, written with run-length coding. The work is
/// proportional to the pairs, not to entries x width. A class, one per parallel chunk: as a
/// `~Copyable` struct with a deinit it crashed Swift 6.3.1's compiler under ThreadSanitizer
/// ("Invalid bitcast"), which kept the sanitizer run of the suite from building.
private final class BandWriter {
    let width: Int
    let height: Int
    /// The current band's pairs in column order: column << 8 | sixel bits, and the entry of each.
    let pairs: UnsafeMutablePointer<UInt32>
    let pairEntry: UnsafeMutablePointer<UInt16>
    /// The same pairs grouped by entry; entry i's run from `start[i]`.
    let grouped: UnsafeMutablePointer<UInt32>
    /// Pairs per entry in the current band (zero between bands), then their start in `grouped`.
    let counts: UnsafeMutablePointer<Int32>
    let start: UnsafeMutablePointer<Int32>
    let colorCount: Int
    var output: ByteWriter

    init(width: Int, height: Int, colorCount: Int, outputCapacity: Int) {
        self.width = width
        self.height = height
        self.colorCount = colorCount
        pairs = .allocate(capacity: 6 * width)
        pairEntry = .allocate(capacity: 6 * width)
        grouped = .allocate(capacity: 6 * width)
        counts = .allocate(capacity: colorCount + 1)
        counts.initialize(repeating: 0, count: colorCount + 1)
        start = .allocate(capacity: colorCount)
        output = ByteWriter(capacity: outputCapacity)
    }

    deinit {
        pairs.deallocate()
        pairEntry.deallocate()
        grouped.deallocate()
        counts.deallocate()
        start.deallocate()
    }

    /// Appends band `band` (rows 6*band ..< 6*band + 6, fewer at the bottom), then `-` unless `last`.
    /// Entries are written in palette order, each row ending at its last set column.
    func encodeBand(_ band: Int, indices: UnsafePointer<UInt16>, registers: UnsafePointer<Int32>, last isLast: Bool) {
        let counts = self.counts
        let top = band * 6
        let rows = min(6, height - top)
        let base = indices + top * width
        let n = rows == 6 ? collectPairs(base, rows: 6) : collectPairs(base, rows: rows)
        // Group by entry, keeping column order.
        var offset: Int32 = 0
        for i in 0..<colorCount {
            start[i] = offset
            offset &+= counts[i]
        }
        for p in 0..<n {
            let i = Int(pairEntry[p])
            grouped[Int(start[i])] = pairs[p]
            start[i] &+= 1
        }
        var written = false
        for i in 0..<colorCount where counts[i] > 0 {
            let count = Int(counts[i])
            let row = grouped + (Int(start[i]) - count)
            counts[i] = 0
            // '$' + '#' + register digits, then at most one byte per column up to the last one (runs never grow).
            output.reserve(Int(row[count - 1] >> 8) + 16)
            if written { output.putUnchecked(SixelCode.carriageReturn) }
            written = true
            output.putUnchecked(SixelCode.colorIntroducer)
            output.putUnchecked(number: Int(registers[i]))
            // A pending run of `length` copies of `byte` ending before column `column`.
            var column = 0, length = 0
            var byte: UInt8 = 0
            for p in 0..<count {
                let x = Int(row[p] >> 8), v = UInt8(truncatingIfNeeded: row[p])
                if x == column && v == byte && length > 0 {
                    length &+= 1
                } else {
                    putRun(SixelCode.dataOffset &+ byte, count: length)
                    putRun(SixelCode.dataOffset, count: x &- column)
                    byte = v
                    length = 1
                }
                column = x &+ 1
            }
            putRun(SixelCode.dataOffset &+ byte, count: length)
        }
        if !isLast {
            output.put(SixelCode.newLine)
        }
    }

    /// Fills `pairs` with the band's (column, bits) pairs, counting them per entry in `counts`; returns
    /// how many. In each column, row r belongs to the first row holding the same index (its owner);
    /// owners collect their rows' bits and each owner that is not transparent adds one pair. Written
    /// without branches on the data (always store, advance by 0 or 1).
    @inline(__always) private func collectPairs(_ base: UnsafePointer<UInt16>, rows: Int) -> Int {
        let width = self.width, pairs = self.pairs, pairEntry = self.pairEntry, counts = self.counts
        let transparent = colorCount  // `counts` has one spare slot for it
        var n = 0
        var index = (0, 0, 0, 0, 0, 0)
        var bits = (UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        withUnsafeMutableBytes(of: &index) { indexBytes in
            withUnsafeMutableBytes(of: &bits) { bitBytes in
                let index = indexBytes.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: Int.self)
                let bits = bitBytes.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: UInt32.self)
                for x in 0..<width {
                    for r in 0..<rows {
                        index[r] = min(Int(base[r &* width &+ x]), transparent)
                        bits[r] = 0
                    }
                    for r in 0..<rows {
                        var owner = r
                        for j in stride(from: r &- 1, through: 0, by: -1) {
                            owner = index[j] == index[r] ? j : owner
                        }
                        bits[owner] |= 1 &<< UInt32(r)
                    }
                    for r in 0..<rows {
                        let entry = index[r]
                        let fresh = bits[r] != 0 && entry != transparent ? 1 : 0
                        pairs[n] = UInt32(truncatingIfNeeded: x) &<< 8 | bits[r]
                        pairEntry[n] = UInt16(truncatingIfNeeded: entry)
                        counts[entry] &+= Int32(fresh)
                        n &+= fresh
                    }
                }
            }
        }
        return n
    }

    /// Writes `count` copies of data byte `byte`, as `!count byte` when that is shorter.
    @inline(__always) private func putRun(_ byte: UInt8, count: Int) {
        if count >= SixelCode.shortestRepeat {
            output.putUnchecked(SixelCode.repeatIntroducer)
            output.putUnchecked(number: count)
            output.putUnchecked(byte)
        } else {
            for _ in 0..<count { output.putUnchecked(byte) }
        }
    }
}
