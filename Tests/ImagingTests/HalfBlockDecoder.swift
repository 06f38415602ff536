/// Decodes half-block terminal output back into pixels, as a terminal would paint it: each
/// `▀`/`▄`/space cell becomes two stacked pixels from the current SGR colours. Transparent
/// (default-coloured) halves decode as alpha 0.
struct HalfBlockDecoder {
    struct Decoded {
        var width: Int
        var height: Int
        /// RGBA, row-major.
        var pixels: [UInt8]
    }

    enum Ink: Equatable { case none, rgb(UInt8, UInt8, UInt8) }

    static func decode(_ bytes: [UInt8]) -> Decoded {
        var lines: [[(Ink, Ink)]] = [[]]
        var foreground = Ink.none, background = Ink.none
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x1B, i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "[") {
                var j = i + 2
                while j < bytes.count, bytes[j] != UInt8(ascii: "m") { j += 1 }
                let fields = String(decoding: bytes[(i + 2)..<j], as: UTF8.self).split(separator: ";", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
                var k = 0
                while k < fields.count {
                    switch fields[k] {
                    case 0: foreground = .none; background = .none; k += 1
                    case 39: foreground = .none; k += 1
                    case 49: background = .none; k += 1
                    case 38, 48:
                        let isForeground = fields[k] == 38
                        let ink: Ink
                        if fields[k + 1] == 2 {
                            ink = .rgb(UInt8(fields[k + 2]), UInt8(fields[k + 3]), UInt8(fields[k + 4])); k += 5
                        } else {
                            let c = xterm256(fields[k + 2]); ink = .rgb(c.0, c.1, c.2); k += 3
                        }
                        if isForeground { foreground = ink } else { background = ink }
                    default: k += 1
                    }
                }
                i = j + 1
            } else if b == UInt8(ascii: "\n") {
                lines.append([]); i += 1
            } else if b == 0xE2, i + 2 < bytes.count {
                let upper = bytes[i + 2] == 0x80
                lines[lines.count - 1].append(upper ? (foreground, background) : (background, foreground))
                i += 3
            } else if b == UInt8(ascii: " ") {
                lines[lines.count - 1].append((background, background)); i += 1
            } else {
                i += 1
            }
        }
        if lines.last?.isEmpty == true { lines.removeLast() }
        let width = lines.map(\.count).max() ?? 0
        var pixels = [UInt8](repeating: 0, count: width * lines.count * 2 * 4)
        for (row, cells) in lines.enumerated() {
            for (x, cell) in cells.enumerated() {
                for (half, ink) in [cell.0, cell.1].enumerated() {
                    if case let .rgb(r, g, b) = ink {
                        let o = ((row * 2 + half) * width + x) * 4
                        pixels[o] = r; pixels[o + 1] = g; pixels[o + 2] = b; pixels[o + 3] = 255
                    }
                }
            }
        }
        return Decoded(width: width, height: lines.count * 2, pixels: pixels)
    }

    private static func xterm256(_ n: Int) -> (UInt8, UInt8, UInt8) {
        if n >= 232 { let v = UInt8(8 + 10 * (n - 232)); return (v, v, v) }
        let levels: [UInt8] = [0, 95, 135, 175, 215, 255]
        let i = n - 16
        return (levels[i / 36], levels[i / 6 % 6], levels[i % 6])
    }
}
