import Imaging

/// A small sixel decoder written for the tests, independent of the encoder: it parses the DCS
/// introducer, raster attributes, colour definitions (RGB percent `#n;2;r;g;b` and HLS `#n;1;h;l;s`),
/// colour selection, repeats `!n`, graphics carriage return `$` and new line `-`, and paints an RGBA
/// canvas where unpainted pixels have alpha 0. Percent becomes (p*255+50)/100, as libsixel does.
struct SixelDecoder {
    /// What a stream decodes to.
    struct Decoded {
        /// The picture, RGBA; sized by the raster attributes, grown to whatever was painted beyond them.
        var image: RGBImage
        /// DCS parameters P1;P2;P3 (absent ones are 0).
        var parameters: [Int]
        /// Raster attributes Pan;Pad;Ph;Pv, if the stream had them.
        var raster: [Int]?
        /// Colour registers the stream defined.
        var definedRegisters: Set<Int>
        /// Registers selected for painting without a definition before.
        var undefinedRegistersUsed: Set<Int>
        /// True when the last command before the terminator was `-`.
        var endsWithNewLine: Bool
    }

    /// Why a stream could not be decoded.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Decodes one complete DCS sixel string.
    static func decode(_ bytes: [UInt8]) throws -> Decoded {
        var p = 0
        // Introducer: ESC P (7-bit) or 0x90 (8-bit DCS).
        if bytes.count >= 2 && bytes[0] == 0x1B && bytes[1] == UInt8(ascii: "P") {
            p = 2
        } else if bytes.first == 0x90 {
            p = 1
        } else {
            throw Failure(description: "no DCS introducer")
        }
        var parameters: [Int] = []
        var number: Int?
        while p < bytes.count && bytes[p] != UInt8(ascii: "q") {
            let c = bytes[p]
            if let digit = digitValue(c) {
                number = (number ?? 0) * 10 + digit
            } else if c == UInt8(ascii: ";") {
                parameters.append(number ?? 0)
                number = nil
            } else {
                throw Failure(description: "unexpected byte \(c) in DCS parameters")
            }
            p += 1
        }
        guard p < bytes.count else { throw Failure(description: "no 'q' after the DCS parameters") }
        parameters.append(number ?? 0)
        p += 1

        var canvas = Canvas()
        var raster: [Int]?
        var palette: [Int: (UInt8, UInt8, UInt8)] = [:]
        var defined = Set<Int>()
        var undefinedUsed = Set<Int>()
        var color = 0
        var x = 0, y = 0
        var lastCommand: UInt8 = 0
        var terminated = false

        func readNumbers() -> [Int] {
            var values: [Int] = []
            var value: Int?
            while p < bytes.count {
                let c = bytes[p]
                if let digit = digitValue(c) {
                    value = (value ?? 0) * 10 + digit
                } else if c == UInt8(ascii: ";") {
                    values.append(value ?? 0)
                    value = nil
                } else {
                    break
                }
                p += 1
            }
            if let value { values.append(value) }
            return values
        }

        func paint(_ sixel: UInt8, count: Int) {
            let bits = Int(sixel) - 0x3F
            if bits != 0 {
                if palette[color] == nil { undefinedUsed.insert(color) }
                let rgb = palette[color] ?? (0, 0, 0)
                for bit in 0..<6 where bits & (1 << bit) != 0 {
                    for dx in 0..<count {
                        canvas.set(x: x + dx, y: y + bit, rgb)
                    }
                }
            }
            canvas.extend(width: x + count)
            x += count
        }

        while p < bytes.count {
            let c = bytes[p]
            if c == 0x1B || c == 0x9C {
                terminated = c == 0x9C || (p + 1 < bytes.count && bytes[p + 1] == UInt8(ascii: "\\"))
                break
            }
            p += 1
            switch c {
            case UInt8(ascii: "\""):
                let values = readNumbers()
                raster = values
                if values.count >= 4 {
                    canvas.extend(width: values[2])
                    canvas.extend(height: values[3])
                }
            case UInt8(ascii: "#"):
                let values = readNumbers()
                guard let register = values.first else { throw Failure(description: "'#' without a register") }
                if values.count >= 5 {
                    switch values[1] {
                    case 2:
                        palette[register] = (percent(values[2]), percent(values[3]), percent(values[4]))
                    case 1:
                        palette[register] = hls(hue: values[2], lightness: values[3], saturation: values[4])
                    default:
                        throw Failure(description: "unknown colour space \(values[1])")
                    }
                    defined.insert(register)
                }
                color = register
            case UInt8(ascii: "!"):
                let values = readNumbers()
                guard p < bytes.count, (0x3F...0x7E).contains(bytes[p]) else {
                    throw Failure(description: "'!' not followed by a sixel")
                }
                paint(bytes[p], count: values.first ?? 1)
                p += 1
            case UInt8(ascii: "$"):
                x = 0
            case UInt8(ascii: "-"):
                x = 0
                y += 6
            case 0x3F...0x7E:
                paint(c, count: 1)
            case 0x0A, 0x0D, 0x20:
                continue
            default:
                throw Failure(description: "unexpected byte \(c) in sixel data")
            }
            lastCommand = c
        }
        guard terminated else { throw Failure(description: "no string terminator") }
        return Decoded(image: canvas.image(), parameters: parameters, raster: raster, definedRegisters: defined,
                       undefinedRegistersUsed: undefinedUsed, endsWithNewLine: lastCommand == UInt8(ascii: "-"))
    }

    private static func digitValue(_ c: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) ? Int(c - UInt8(ascii: "0")) : nil
    }

    /// A register channel of `p` percent as 8 bits: (p*255+50)/100.
    static func percent(_ p: Int) -> UInt8 {
        UInt8((min(p, 100) * 255 + 50) / 100)
    }

    /// DEC HLS (hue 0 = blue, 120 = red, 240 = green; lightness and saturation in percent) as RGB.
    static func hls(hue: Int, lightness: Int, saturation: Int) -> (UInt8, UInt8, UInt8) {
        let h = Double((hue + 240) % 360) / 360  // the usual hue, 0 = red
        let l = Double(min(lightness, 100)) / 100, s = Double(min(saturation, 100)) / 100
        let q = l < 0.5 ? l * (1 + s) : l + s - l * s
        let p = 2 * l - q
        func channel(_ t: Double) -> UInt8 {
            var t = t
            if t < 0 { t += 1 }
            if t > 1 { t -= 1 }
            let v: Double
            if t < 1.0 / 6 { v = p + (q - p) * 6 * t } else if t < 0.5 { v = q } else if t < 2.0 / 3 { v = p + (q - p) * (2.0 / 3 - t) * 6 } else { v = p }
            return UInt8((v * 255).rounded())
        }
        return (channel(h + 1.0 / 3), channel(h), channel(h - 1.0 / 3))
    }

    /// A growable RGBA picture, one array per row.
    private struct Canvas {
        var width = 0
        var height = 0
        /// Painted rows; a pixel is 0 (unpainted) or 0xFF << 24 | b << 16 | g << 8 | r.
        var rows: [[UInt32]] = []

        mutating func extend(width w: Int) { width = max(width, w) }
        mutating func extend(height h: Int) { height = max(height, h) }

        mutating func set(x: Int, y: Int, _ rgb: (UInt8, UInt8, UInt8)) {
            extend(width: x + 1)
            extend(height: y + 1)
            while rows.count <= y { rows.append([]) }
            if rows[y].count <= x {
                rows[y].append(contentsOf: repeatElement(0, count: x + 1 - rows[y].count))
            }
            rows[y][x] = 0xFF00_0000 | UInt32(rgb.2) << 16 | UInt32(rgb.1) << 8 | UInt32(rgb.0)
        }

        func image() -> RGBImage {
            let w = max(width, 1), h = max(height, 1)
            var out = [UInt8](repeating: 0, count: w * h * 4)
            for (y, row) in rows.enumerated() {
                for (x, v) in row.enumerated() where v != 0 {
                    let o = (y * w + x) * 4
                    out[o] = UInt8(truncatingIfNeeded: v)
                    out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    out[o + 2] = UInt8(truncatingIfNeeded: v >> 16)
                    out[o + 3] = 255
                }
            }
            return RGBImage(width: w, height: h, hasAlpha: true, pixels: out)
        }
    }
}
