import Foundation
import PNGBridge
import UserFiles

/// A text chunk of a PNG file: `tEXt` (Latin-1) or `iTXt` (UTF-8).
public struct PNGText: Sendable, Equatable {
    /// The keyword, 1-79 Latin-1 characters (e.g. `parameters`).
    public var key: String
    /// The text.
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// A decoded PNG: its pixels and its text chunks in file order.
public struct PNGFile: Sendable, Equatable {
    /// The pixels, 8-bit RGB or RGBA whatever the file's own format.
    public var image: RGBImage
    /// The text chunks (tEXt, zTXt, iTXt), in file order.
    public var texts: [PNGText]

    public init(image: RGBImage, texts: [PNGText] = []) {
        self.image = image
        self.texts = texts
    }

    /// The value of the first text chunk with this keyword.
    public func text(_ key: String) -> String? {
        texts.first { $0.key == key }?.value
    }
}

/// What went wrong reading or writing a PNG; the description is one line naming the problem.
public struct PNGError: Error, CustomStringConvertible, Equatable {
    /// One line: what is wrong.
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// PNG encoding and decoding through libpng.
public enum PNG {
    /// The largest width or height accepted when decoding.
    public static let maxSide = 32_768
    /// The largest number of pixels accepted when decoding (256 megapixels, 1 GiB as RGBA).
    public static let maxPixels = 1 << 28

    /// Decodes PNG bytes. Palette, grey, 16-bit, alpha and interlaced files become 8-bit RGB(A).
    public static func decode(_ data: some ContiguousBytes) throws(PNGError) -> PNGFile {
        var result = stipple_png_decoded()
        let status = data.withUnsafeBytes { raw -> Int32 in
            let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            return stipple_png_decode(base, raw.count, UInt32(maxSide), UInt64(maxPixels), &result)
        }
        defer { stipple_png_decoded_free(&result) }
        guard status == 0 else {
            throw PNGError(errorText(&result.error))
        }
        let count = Int(result.width) * Int(result.height) * Int(result.channels)
        let pixels = [UInt8](UnsafeBufferPointer(start: result.pixels, count: count))
        let image = RGBImage(width: Int(result.width), height: Int(result.height), hasAlpha: result.channels == 4, pixels: pixels)
        var texts: [PNGText] = []
        for i in 0..<result.text_count {
            let chunk = result.texts[i]
            let key = String(cString: chunk.key)
            let bytes = UnsafeBufferPointer(start: chunk.text, count: chunk.text_length)
            texts.append(PNGText(key: key, value: decodeText(bytes, international: chunk.is_international != 0)))
        }
        return PNGFile(image: image, texts: texts)
    }

    /// The size and text chunks of a PNG without decoding its pixels (texts before the image data
    /// only: where A1111, Pillow and stipple write them). The gallery lists folders with this.
    public static func readHeader(path: String) throws(PNGError) -> (width: Int, height: Int, texts: [PNGText]) {
        let data = try fileData(path)
        return try header(of: data, path: path)
    }

    /// The bytes of the file at `path` (a regular file, memory-mapped), its problems as `PNGError`.
    static func fileData(_ path: String) throws(PNGError) -> Data {
        do {
            return try UserFile.read(path)
        } catch {
            throw PNGError(error.description)
        }
    }

    /// `readHeader` on a PNG in memory; errors name `path`.
    static func header(of data: Data, path: String) throws(PNGError) -> (width: Int, height: Int, texts: [PNGText]) {
        var result = stipple_png_decoded()
        let status = data.withUnsafeBytes { raw -> Int32 in
            stipple_png_decode_header(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, &result)
        }
        defer { stipple_png_decoded_free(&result) }
        guard status == 0 else { throw PNGError("\(path): \(errorText(&result.error))") }
        var texts: [PNGText] = []
        for i in 0..<result.text_count {
            let chunk = result.texts[i]
            let bytes = UnsafeBufferPointer(start: chunk.text, count: chunk.text_length)
            texts.append(PNGText(key: String(cString: chunk.key), value: decodeText(bytes, international: chunk.is_international != 0)))
        }
        return (Int(result.width), Int(result.height), texts)
    }

    /// Reads and decodes a PNG file; errors name the file.
    public static func read(path: String) throws(PNGError) -> PNGFile {
        let data = try fileData(path)
        do {
            return try decode(data)
        } catch {
            throw PNGError("\(path): \(error.description)")
        }
    }

    /// Encodes an image with text chunks. Text that fits Latin-1 goes into `tEXt` (as A1111 and
    /// Pillow write it), other text into `iTXt`. `compressionLevel` is zlib's 0-9.
    public static func encode(_ image: RGBImage, texts: [PNGText] = [], compressionLevel: Int = 6) throws(PNGError) -> [UInt8] {
        for text in texts {
            try validateKey(text.key)
            if text.value.utf8.contains(0) {
                throw PNGError("PNG text \"\(text.key)\" contains a NUL character")
            }
        }
        // Every key and value, each NUL-terminated, in one buffer that outlives the call:
        // (key offset, value offset, value length, iTXt) per text.
        var strings: [UInt8] = []
        var layout: [(key: Int, value: Int, length: Int, international: Bool)] = []
        for text in texts {
            let key = strings.count
            strings += text.key.unicodeScalars.map { UInt8($0.value) } + [0]  // validated Latin-1
            let latin1 = text.value.data(using: .isoLatin1).map { [UInt8]($0) }
            let bytes = latin1 ?? [UInt8](text.value.utf8)
            layout.append((key, strings.count, bytes.count, latin1 == nil))
            strings += bytes + [0]
        }
        var result = stipple_png_encoded()
        let status: Int32 = strings.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            let inputs = layout.map { entry in
                // UInt8 and CChar are the signed and unsigned variants of one type, so they may alias.
                stipple_png_text_in(key: UnsafePointer<CChar>(OpaquePointer(base + entry.key)), text: base + entry.value,
                                    text_length: entry.length, is_international: entry.international ? 1 : 0)
            }
            return image.pixels.withUnsafeBufferPointer { pixels in
                inputs.withUnsafeBufferPointer { textInputs in
                    stipple_png_encode(pixels.baseAddress, UInt32(image.width), UInt32(image.height), UInt32(image.channels),
                                       textInputs.baseAddress, textInputs.count, Int32(compressionLevel), &result)
                }
            }
        }
        defer { stipple_png_encoded_free(&result) }
        guard status == 0 else {
            throw PNGError(errorText(&result.error))
        }
        return [UInt8](UnsafeBufferPointer(start: result.bytes, count: result.length))
    }

    /// libpng's version, e.g. "1.6.39".
    public static var libraryVersion: String {
        let v = stipple_png_library_version()
        return "\(v / 10000).\(v / 100 % 100).\(v % 100)"
    }

    static func validateKey(_ key: String) throws(PNGError) {
        let scalars = key.unicodeScalars
        guard (1...79).contains(scalars.count),
              scalars.allSatisfy({ (0x20...0x7E).contains($0.value) || (0xA1...0xFF).contains($0.value) }),
              key.first != " ", key.last != " ", !key.contains("  ") else {
            throw PNGError("invalid PNG text keyword \"\(key)\" (1-79 printable Latin-1 characters, no leading, trailing or double spaces)")
        }
    }

    /// tEXt is Latin-1 by the standard, but many tools write UTF-8 there; valid multi-byte UTF-8
    /// practically never occurs in real Latin-1 text, so it is read as UTF-8 when it decodes as such.
    static func decodeText(_ bytes: UnsafeBufferPointer<UInt8>, international: Bool) -> String {
        if international || !bytes.contains(where: { $0 >= 0x80 }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        if let utf8 = String(validating: bytes, as: UTF8.self) {
            return utf8
        }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    static func errorText<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
