import Parallel

extension PaletteMapper {
    /// Rows per independently diffused strip; the strip count depends only on the image height, so
    /// the result is the same on any number of cores.
    static let diffusionStripRows = 64
    /// Rows above its own that a strip diffuses first, without output, so that error already flows
    /// into its first row as it would in one sequential pass (no seam between strips).
    static let diffusionWarmUpRows = 8

    /// Floyd–Steinberg along serpentine rows. Every pixel waits for its left neighbour's lookup, so
    /// the image is cut into strips of `diffusionStripRows` rows, each starting `diffusionWarmUpRows`
    /// higher; pairs of strips run interleaved (two independent chains keep a core busy) and pairs
    /// run in parallel.
    func mapDiffusion(_ image: RGBImage, grid: NearestGrid) -> [UInt16] {
        let width = image.width, height = image.height
        let colors = palette.colors.flatMap { [Int32($0.r), Int32($0.g), Int32($0.b)] }
        let strips = max(1, height / PaletteMapper.diffusionStripRows)
        let pairs = (strips + 1) / 2
        // Per strip: two error rows with one padding pixel each side, 3 channels (index (x + 1) * 3 + c),
        // and one row of indices for the warm-up rows.
        let stride = (width + 2) * 3
        var errors = [Int32](repeating: 0, count: strips * 2 * stride)
        var scratch = [UInt16](repeating: 0, count: strips * width)
        return PaletteMapper.filledIndices(count: width * height) { dst in
            image.pixels.withUnsafeBufferPointer { src in
                colors.withUnsafeBufferPointer { colors in
                    errors.withUnsafeMutableBufferPointer { errors in
                        scratch.withUnsafeMutableBufferPointer { scratch in
                            grid.withSearch { search in
                                parallelFor(pairs) { pair in
                                    guard let src = src.baseAddress, let dst = dst.baseAddress, let colors = colors.baseAddress,
                                          let errors = errors.baseAddress, let scratch = scratch.baseAddress else { return }
                                    func lane(_ strip: Int) -> DiffusionLane {
                                        let rows = (strip * height / strips)..<((strip + 1) * height / strips)
                                        return DiffusionLane(image: image, rows: rows, warmUp: min(rows.lowerBound, PaletteMapper.diffusionWarmUpRows),
                                                             src: src, dst: dst, colors: colors, errors: errors + strip * 2 * stride,
                                                             scratch: scratch + strip * width)
                                    }
                                    var a = lane(2 * pair)
                                    var b = 2 * pair + 1 < strips ? lane(2 * pair + 1) : nil
                                    DiffusionLane.run(&a, &b, search: search)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One strip's Floyd–Steinberg pass: the error e = p' - c of each pixel goes 7/16 ahead, 3/16
/// behind-below, 5/16 below, 1/16 ahead-below; even rows run left to right. Errors are kept in 1/16
/// units in two rows. Rows from `firstRow` up to `stopRow` are output; those before (the warm-up)
/// write their indices to a scratch row.
private struct DiffusionLane {
    let width: Int
    let channels: Int
    let hasAlpha: Bool
    let src: UnsafePointer<UInt8>
    let dst: UnsafeMutablePointer<UInt16>
    let colors: UnsafePointer<Int32>
    let scratch: UnsafeMutablePointer<UInt16>
    let firstRow: Int
    let stopRow: Int
    var current: UnsafeMutablePointer<Int32>
    var next: UnsafeMutablePointer<Int32>
    /// The row being diffused, and its pixels, output and direction.
    var y: Int
    var row: UnsafePointer<UInt8>
    var out: UnsafeMutablePointer<UInt16>
    var forward = true
    var step = 3

    init(image: RGBImage, rows: Range<Int>, warmUp: Int, src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<UInt16>,
         colors: UnsafePointer<Int32>, errors: UnsafeMutablePointer<Int32>, scratch: UnsafeMutablePointer<UInt16>) {
        width = image.width
        channels = image.channels
        hasAlpha = image.hasAlpha
        self.src = src
        self.dst = dst
        self.colors = colors
        self.scratch = scratch
        firstRow = rows.lowerBound
        stopRow = rows.upperBound
        current = errors
        next = errors + (image.width + 2) * 3
        y = rows.lowerBound - warmUp
        row = src
        out = scratch
    }

    var hasRow: Bool { y < stopRow }

    mutating func beginRow() {
        next.update(repeating: 0, count: (width + 2) * 3)
        forward = y & 1 == 0
        step = forward ? 3 : -3
        row = src + y * width * channels
        out = y < firstRow ? scratch : dst + y * width
    }

    mutating func endRow() {
        swap(&current, &next)
        y += 1
    }

    /// Diffuses the k-th pixel of the row in its direction.
    @inline(__always) mutating func pixel(_ k: Int, search: NearestGrid.Search) {
        let x = forward ? k : width &- 1 &- k
        let p = row + x &* channels
        if hasAlpha && p[3] < 128 {
            out[x] = IndexedImage.transparent
            return
        }
        let e = (x &+ 1) &* 3
        let r = clampToByte(Int32(p[0]) &+ (current[e] &+ 8) &>> 4)
        let g = clampToByte(Int32(p[1]) &+ (current[e &+ 1] &+ 8) &>> 4)
        let b = clampToByte(Int32(p[2]) &+ (current[e &+ 2] &+ 8) &>> 4)
        let index = search.nearest(r, g, b)
        out[x] = UInt16(truncatingIfNeeded: index)
        let c = colors + Int(index) &* 3
        let er = r &- c[0], eg = g &- c[1], eb = b &- c[2]
        let ahead = e &+ step, behind = e &- step
        current[ahead] &+= 7 &* er
        current[ahead &+ 1] &+= 7 &* eg
        current[ahead &+ 2] &+= 7 &* eb
        next[behind] &+= 3 &* er
        next[behind &+ 1] &+= 3 &* eg
        next[behind &+ 2] &+= 3 &* eb
        next[e] &+= 5 &* er
        next[e &+ 1] &+= 5 &* eg
        next[e &+ 2] &+= 5 &* eb
        next[ahead] &+= er
        next[ahead &+ 1] &+= eg
        next[ahead &+ 2] &+= eb
    }

    /// Runs lane `a` and, if any, lane `b` to the end, a row of each at a time with their pixels
    /// interleaved: the two lookups in flight overlap.
    static func run(_ a: inout DiffusionLane, _ b: inout DiffusionLane?, search: NearestGrid.Search) {
        let width = a.width
        if var second = b {
            while a.hasRow && second.hasRow {
                a.beginRow()
                second.beginRow()
                for k in 0..<width {
                    a.pixel(k, search: search)
                    second.pixel(k, search: search)
                }
                a.endRow()
                second.endRow()
            }
            while second.hasRow {
                second.beginRow()
                for k in 0..<width { second.pixel(k, search: search) }
                second.endRow()
            }
            b = second
        }
        while a.hasRow {
            a.beginRow()
            for k in 0..<width { a.pixel(k, search: search) }
            a.endRow()
        }
    }
}
