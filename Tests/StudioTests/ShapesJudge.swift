import Foundation

/// A Swift port of tools/judge_shapes.py's `judge`: what a 64x64 image of the bundled model's
/// world shows (background colour from the border, shape colour from the foreground, position from
/// its centroid, shape from its fill ratio), computed the same way, step for step: numpy's median,
/// scipy's 4-connected labelling, hole filling and erosion. ShapesJudgeTests checks it agrees with
/// the Python judge on committed images.
struct ShapesJudge {
    struct Verdict: Equatable, CustomStringConvertible {
        var background: String
        var colour: String?
        var position: String?
        var shape: String?
        var fill: Double?

        var description: String {
            "\(colour ?? "?") \(shape ?? "?") at \(position ?? "?") on \(background)" + (fill.map { String(format: " (fill %.3f)", $0) } ?? "")
        }
    }

    /// How many of a run's images showed each attribute their caption asks, and what each showed.
    struct Tally {
        var background = 0, colour = 0, position = 0, shape = 0
        var lines: [String] = []
        var count: Int { lines.count }

        /// Judges `rgb` (64x64) against `caption` (nil when the caption is not of the plain form).
        mutating func add(rgb: [UInt8], caption: String, seed: UInt64) -> Verdict? {
            guard let wanted = ShapesJudge.expected(from: caption) else { return nil }
            let verdict = ShapesJudge.judge(rgb: rgb, width: 64, height: 64)
            background += verdict.background == wanted.background ? 1 : 0
            colour += verdict.colour == wanted.colour ? 1 : 0
            position += verdict.position == wanted.position ? 1 : 0
            shape += verdict.shape == wanted.shape ? 1 : 0
            lines.append("\(caption) (seed \(seed)): \(verdict)")
            return verdict
        }

        /// "background 8/8, colour 7/8, position 8/8, shape 6/8", then each image's line.
        var summary: String {
            "background \(background)/\(count), colour \(colour)/\(count), position \(position)/\(count), "
                + "shape \(shape)/\(count)\n" + lines.joined(separator: "\n")
        }
    }

    /// tools/shapes_data.py's palette, in its order.
    static let palette: [(name: String, rgb: (Double, Double, Double))] = [
        ("red", (220, 30, 30)), ("green", (30, 170, 50)), ("blue", (35, 65, 225)), ("yellow", (240, 220, 40)),
        ("white", (245, 245, 245)), ("black", (18, 18, 18)), ("orange", (245, 135, 20)), ("purple", (135, 45, 185)),
    ]
    static let triangleBelow = 0.65, circleBelow = 0.86, foregroundDistance = 40.0

    /// The caption's attributes, as tools/shapes_data.py's `parse_caption` reads the plain form
    /// "a COLOUR SHAPE in the POSITION on a BACKGROUND background".
    static func expected(from caption: String) -> (colour: String, shape: String, position: String, background: String)? {
        let pattern = #"^an? (\w+) (circle|square|triangle) (?:in the )?(top left|top right|bottom left|bottom right|center) on an? (\w+) background$"#
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: caption, range: NSRange(caption.startIndex..., in: caption)) else { return nil }
        func group(_ i: Int) -> String { String(caption[Range(match.range(at: i), in: caption)!]) }
        return (group(1), group(2), group(3), group(4))
    }

    static func nearest(_ p: (Double, Double, Double)) -> Int {
        var best = 0, bestDistance = Double.infinity
        for (index, entry) in palette.enumerated() {
            let d = (p.0 - entry.rgb.0) * (p.0 - entry.rgb.0) + (p.1 - entry.rgb.1) * (p.1 - entry.rgb.1)
                + (p.2 - entry.rgb.2) * (p.2 - entry.rgb.2)
            if d < bestDistance { (best, bestDistance) = (index, d) }
        }
        return best
    }

    /// numpy's median (the mean of the two middle values for an even count).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    static func median(of pixels: [(Double, Double, Double)]) -> (Double, Double, Double) {
        (median(pixels.map(\.0)), median(pixels.map(\.1)), median(pixels.map(\.2)))
    }

    /// 4-connected components of `mask`: the largest one (first of equal ones, as argmax), holes filled.
    static func largestPart(_ mask: [Bool], width: Int, height: Int) -> [Bool] {
        var labels = [Int](repeating: 0, count: mask.count)
        var sizes: [Int] = []
        for start in mask.indices where mask[start] && labels[start] == 0 {
            sizes.append(0)
            let label = sizes.count
            var stack = [start]
            labels[start] = label
            while let p = stack.popLast() {
                sizes[label - 1] += 1
                let (x, y) = (p % width, p / width)
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && nx < width && ny >= 0 && ny < height {
                    let q = ny * width + nx
                    if mask[q] && labels[q] == 0 {
                        labels[q] = label
                        stack.append(q)
                    }
                }
            }
        }
        guard let biggest = sizes.indices.max(by: { sizes[$0] < sizes[$1] || (sizes[$0] == sizes[$1] && $0 > $1) }) else { return mask }
        let part = labels.map { $0 == biggest + 1 }
        return fillHoles(part, width: width, height: height)
    }

    /// scipy's binary_fill_holes: everything not reachable from the border through 4-connected
    /// background becomes foreground.
    static func fillHoles(_ mask: [Bool], width: Int, height: Int) -> [Bool] {
        var outside = [Bool](repeating: false, count: mask.count)
        var stack: [Int] = []
        for x in 0..<width { stack += [x, (height - 1) * width + x] }
        for y in 0..<height { stack += [y * width, y * width + width - 1] }
        while let p = stack.popLast() {
            guard !mask[p], !outside[p] else { continue }
            outside[p] = true
            let (x, y) = (p % width, p / width)
            for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && nx < width && ny >= 0 && ny < height {
                stack.append(ny * width + nx)
            }
        }
        return outside.map { !$0 }
    }

    /// scipy's binary_erosion with the cross structure and a false border.
    static func erode(_ mask: [Bool], width: Int, height: Int) -> [Bool] {
        var out = [Bool](repeating: false, count: mask.count)
        for y in 1..<max(1, height - 1) {
            for x in 1..<max(1, width - 1) {
                let p = y * width + x
                out[p] = mask[p] && mask[p - 1] && mask[p + 1] && mask[p - width] && mask[p + width]
            }
        }
        return out
    }

    /// Judges RGB bytes (3 per pixel, row-major).
    static func judge(rgb: [UInt8], width w: Int, height h: Int) -> Verdict {
        // One statement per channel: as one closure expression this went over the type checker's
        // limit once Studio depended on TOMLKit (which adds conformances to Double, Int, UInt8...).
        var pixels: [(Double, Double, Double)] = []
        pixels.reserveCapacity(w * h)
        for i in 0..<w * h {
            let r = Double(rgb[3 * i]), g = Double(rgb[3 * i + 1]), b = Double(rgb[3 * i + 2])
            pixels.append((r, g, b))
        }
        // The border, in the Python judge's order (which decides ties in the vote and the median).
        var border: [(Double, Double, Double)] = []
        for y in [0, 1, h - 2, h - 1] { for x in 0..<w { border.append(pixels[y * w + x]) } }
        for y in 2..<h - 2 { for x in 0..<2 { border.append(pixels[y * w + x]) } }
        for y in 2..<h - 2 { for x in w - 2..<w { border.append(pixels[y * w + x]) } }
        let nearestBorder = border.map(nearest)
        var votes = [Int](repeating: 0, count: palette.count)
        for index in nearestBorder { votes[index] += 1 }
        let background = votes.indices.max { votes[$0] < votes[$1] || (votes[$0] == votes[$1] && $0 > $1) }!
        let bg = median(of: zip(border, nearestBorder).filter { $0.1 == background }.map(\.0))
        var verdict = Verdict(background: palette[background].name)

        func distance(_ a: (Double, Double, Double), _ b: (Double, Double, Double)) -> Double {
            ((a.0 - b.0) * (a.0 - b.0) + (a.1 - b.1) * (a.1 - b.1) + (a.2 - b.2) * (a.2 - b.2)).squareRoot()
        }
        let far = largestPart(pixels.map { distance($0, bg) > foregroundDistance }, width: w, height: h)
        guard far.filter({ $0 }).count >= 8 else { return verdict }
        let core = erode(far, width: w, height: h)
        let use = core.filter({ $0 }).count >= 4 ? core : far
        let fg = median(of: pixels.indices.filter { use[$0] }.map { pixels[$0] })
        verdict.colour = palette[nearest(fg)].name

        let mask = largestPart(pixels.map { distance($0, fg) < distance($0, bg) }, width: w, height: h)
        let indices = mask.indices.filter { mask[$0] }
        guard !indices.isEmpty else { return verdict }
        let xs = indices.map { $0 % w }, ys = indices.map { $0 / w }
        let cx = Double(xs.reduce(0, +)) / Double(xs.count) + 0.5 - Double(w) / 2
        let cy = Double(ys.reduce(0, +)) / Double(ys.count) + 0.5 - Double(h) / 2
        verdict.position = abs(cx) < 8 && abs(cy) < 8 ? "center" : (cy < 0 ? "top" : "bottom") + " " + (cx < 0 ? "left" : "right")
        let box = Double((xs.max()! - xs.min()! + 1) * (ys.max()! - ys.min()! + 1))
        let fill = Double(indices.count) / box
        verdict.fill = (fill * 1000).rounded() / 1000
        verdict.shape = fill < triangleBelow ? "triangle" : fill < circleBelow ? "circle" : "square"
        return verdict
    }
}
