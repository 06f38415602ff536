import Foundation
import PNGBridge

/// "Stealth" generation text hidden in a PNG's pixels, as the stealth-pnginfo extension of A1111
/// (ashen-sensored/sd_webui_stealth_pnginfo, scripts/stealth_pnginfo.py) writes it, and NovelAI
/// (NovelAI/novelai-image-metadata, nai_meta_writer.py): one bit in the least significant bit of
/// each pixel's alpha ("alpha" mode), or of its R, G and B in turn ("rgb" mode), taking the pixels
/// column by column (x outer, y inner: the extension's loops, NovelAI's transposed alpha plane);
/// bits most significant first. The stream is a 15-byte signature (`stealth_pnginfo`,
/// `stealth_pngcomp` for alpha, `stealth_rgbinfo`, `stealth_rgbcomp` for rgb), the payload's
/// length in bits as a 32-bit big-endian number, then the payload: UTF-8 text, gzip'd in the
/// "comp" modes. A1111's payload is its `parameters`; NovelAI's is a JSON object of its PNG
/// texts (`Description`, `Software`, `Source`, `Generation time`, `Comment`...), which becomes
/// those texts again.
///
/// Signatures are looked for as the extension does (rgb after 40 pixels, then alpha after 120),
/// in the image's first rows only; the whole image is decoded only when one is there. A length
/// the pixels cannot carry, a payload over `ImageTexts.maxTextBytes` (inflated or not), bad gzip
/// or bad UTF-8 mean no stealth text, with a note.
enum StealthText {
    /// The pixels decoded: `rows` rows of `width` pixels with `channels` samples each.
    struct Pixels {
        var width: Int
        var height: Int
        var rows: Int
        var channels: Int
        var samples: [UInt8]
    }

    /// Bits the signature and the length take.
    static let headerBits = 15 * 8 + 32

    static func read(pngData: Data, path: String, notes: inout [String]) -> (texts: [PNGText], place: String)? {
        // Enough rows for the signature in the first column (120 pixels for alpha).
        guard var pixels = decode(pngData, maxRows: 120, notes: &notes) else { return nil }
        guard let mode = signature(pixels) else { return nil }
        if pixels.rows < pixels.height {
            guard let whole = decode(pngData, maxRows: Int(UInt32.max), notes: &notes) else { return nil }
            pixels = whole
        }
        let bitsPerPixel = mode.alpha ? 1 : 3
        let capacity = pixels.width * pixels.height * bitsPerPixel
        var reader = BitReader(pixels: pixels, alpha: mode.alpha)
        guard let length = reader.read(bits: 32, at: 120) else { return nil }
        let channel = mode.alpha ? "alpha" : "RGB"
        let kind = channel + (mode.compressed ? " (compressed)" : "")
        guard length <= capacity - headerBits else {
            notes.append("stealth \(kind) text claims \(length) bits but the image carries \(capacity - headerBits) (ignored)")
            return nil
        }
        guard length % 8 == 0, length / 8 <= ImageTexts.maxTextBytes else {
            notes.append("stealth \(kind) text of \(length) bits is not whole bytes or is over \(ImageTexts.maxTextBytes) bytes (ignored)")
            return nil
        }
        var payload = [UInt8](repeating: 0, count: length / 8)
        for i in payload.indices {
            guard let byte = reader.read(bits: 8, at: headerBits + i * 8) else { return nil }
            payload[i] = UInt8(byte)
        }
        if mode.compressed {
            do {
                payload = try gunzip(payload, limit: ImageTexts.maxTextBytes)
            } catch {
                notes.append("stealth \(kind) text: \(error.description) (ignored)")
                return nil
            }
        }
        guard let text = String(validating: payload, as: UTF8.self) else {
            notes.append("stealth \(kind) text is not valid UTF-8 (ignored)")
            return nil
        }
        if mode.alpha, let texts = novelAITexts(text) {
            return (texts, "stealth \(channel) (\(mode.compressed ? "compressed, " : "")NovelAI)")
        }
        return ([PNGText(key: "parameters", value: text)], "stealth \(kind)")
    }

    /// Decodes the PNG's first `maxRows` rows (all of them when it has no more); nil with a note
    /// when libpng refuses it (too large, broken).
    static func decode(_ data: Data, maxRows: Int, notes: inout [String]) -> Pixels? {
        var result = stipple_png_decoded()
        let status = data.withUnsafeBytes { raw -> Int32 in
            stipple_png_decode_rows(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, UInt32(PNG.maxSide),
                                    UInt64(PNG.maxPixels), UInt32(clamping: maxRows), &result)
        }
        defer { stipple_png_decoded_free(&result) }
        guard status == 0 else {
            notes.append("pixels not read for stealth text: \(PNG.errorText(&result.error))")
            return nil
        }
        let count = Int(result.width) * Int(result.rows) * Int(result.channels)
        let samples = count == 0 ? [] : [UInt8](UnsafeBufferPointer(start: result.pixels, count: count))
        return Pixels(width: Int(result.width), height: Int(result.height), rows: Int(result.rows),
                      channels: Int(result.channels), samples: samples)
    }

    /// The mode whose signature the pixels carry, tried as the extension does: rgb, then alpha.
    static func signature(_ pixels: Pixels) -> (alpha: Bool, compressed: Bool)? {
        for alpha in pixels.channels == 4 ? [false, true] : [false] {
            var reader = BitReader(pixels: pixels, alpha: alpha)
            var bytes: [UInt8] = []
            for i in 0..<15 {
                guard let byte = reader.read(bits: 8, at: i * 8) else { break }
                bytes.append(UInt8(byte))
            }
            switch String(decoding: bytes, as: UTF8.self) {
            case "stealth_rgbinfo" where !alpha: return (false, false)
            case "stealth_rgbcomp" where !alpha: return (false, true)
            case "stealth_pnginfo" where alpha: return (true, false)
            case "stealth_pngcomp" where alpha: return (true, true)
            default: continue
            }
        }
        return nil
    }

    /// Bits from the pixels in the writers' order: column by column; one alpha bit a pixel, or
    /// the R, G, B bits of each pixel in turn.
    struct BitReader {
        let pixels: Pixels
        let alpha: Bool

        /// `count` (at most 32) bits from bit `start`, most significant first; nil past the
        /// pixels decoded.
        mutating func read(bits count: Int, at start: Int) -> Int? {
            var value = 0
            for bit in start..<(start + count) {
                let pixel = alpha ? bit : bit / 3
                let channel = alpha ? 3 : bit % 3
                let x = pixel / pixels.height
                let y = pixel % pixels.height
                guard y < pixels.rows, x < pixels.width else { return nil }
                let index = (y * pixels.width + x) * pixels.channels + channel
                guard index < pixels.samples.count else { return nil }
                value = value << 1 | Int(pixels.samples[index] & 1)
            }
            return value
        }
    }

    /// NovelAI's payload: a JSON object of its PNG texts, all strings, with a `Comment` or a
    /// `Description`; nil for anything else (an A1111 `parameters` text).
    static func novelAITexts(_ text: String) -> [PNGText]? {
        guard text.first == "{", let pairs = FlatJSON.stringPairs(text),
              pairs.contains(where: { $0.key == "Comment" || $0.key == "Description" }),
              pairs.allSatisfy({ ImageTexts.pngKeyword(ArraySlice($0.key.utf8)) != nil }) else { return nil }
        return pairs
    }

    /// Inflates gzip through zlib (in PNGBridge), refusing more than `limit` bytes.
    static func gunzip(_ bytes: [UInt8], limit: Int) throws(ImageTextsError) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        var error = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { input in
            stipple_gunzip(input.baseAddress, input.count, limit, &output, &length, &error)
        }
        defer { free(output) }
        guard status == 0, let output else {
            throw ImageTextsError(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return [UInt8](UnsafeBufferPointer(start: output, count: length))
    }
}

/// A JSON object whose values are all strings, its pairs in order (JSONSerialization forgets the
/// order, which NovelAI's texts have). No nesting, so no recursion; anything else is nil.
enum FlatJSON {
    static func stringPairs(_ text: String) -> [PNGText]? {
        var scalars = Array(text.unicodeScalars)[...]
        func skipSpace() {
            while let c = scalars.first, c == " " || c == "\n" || c == "\r" || c == "\t" { scalars.removeFirst() }
        }
        func take(_ c: Unicode.Scalar) -> Bool {
            skipSpace()
            guard scalars.first == c else { return false }
            scalars.removeFirst()
            return true
        }
        func string() -> String? {
            guard take("\"") else { return nil }
            var out = String.UnicodeScalarView()
            var pendingHigh: UInt32?
            while let c = scalars.popFirst() {
                if c == "\"" { return pendingHigh == nil ? String(out) : nil }
                if c.value < 0x20 { return nil }
                guard c == "\\" else {
                    if pendingHigh != nil { return nil }
                    out.append(c)
                    continue
                }
                guard let escape = scalars.popFirst() else { return nil }
                let simple: [Unicode.Scalar: Unicode.Scalar] = ["\"": "\"", "\\": "\\", "/": "/", "b": "\u{8}",
                                                                "f": "\u{C}", "n": "\n", "r": "\r", "t": "\t"]
                if let plain = simple[escape] {
                    if pendingHigh != nil { return nil }
                    out.append(plain)
                    continue
                }
                guard escape == "u", scalars.count >= 4,
                      let unit = UInt32(String(String.UnicodeScalarView(scalars.prefix(4))), radix: 16) else { return nil }
                scalars.removeFirst(4)
                if let high = pendingHigh {
                    guard (0xDC00...0xDFFF).contains(unit),
                          let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)) else { return nil }
                    out.append(scalar)
                    pendingHigh = nil
                } else if (0xD800...0xDBFF).contains(unit) {
                    pendingHigh = unit
                } else if let scalar = Unicode.Scalar(unit) {
                    out.append(scalar)
                } else {
                    return nil
                }
            }
            return nil
        }
        guard take("{") else { return nil }
        var pairs: [PNGText] = []
        if take("}") { skipSpace(); return scalars.isEmpty ? pairs : nil }
        repeat {
            guard let key = string(), take(":"), let value = string() else { return nil }
            pairs.append(PNGText(key: key, value: value))
        } while take(",")
        guard take("}") else { return nil }
        skipSpace()
        return scalars.isEmpty ? pairs : nil
    }
}
