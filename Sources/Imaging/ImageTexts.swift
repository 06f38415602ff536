import Foundation
import UserFiles

/// The generation texts of an image file, wherever its tool put them: PNG text chunks (and a PNG's
/// `eXIf` chunk, ComfyUI's `comf` chunks), JPEG and WebP EXIF (A1111/Forge/SD.Next, ComfyUI,
/// Fooocus, SwarmUI), a JPEG comment, or "stealth" text hidden in the low bits of a PNG's pixels
/// (the stealth-pnginfo extension of A1111, NovelAI). Each text comes out as the key/value pair
/// the tool writes into a PNG (`parameters`, `prompt`, `workflow`, `fooocus_scheme`, NovelAI's
/// `Description`/`Comment`...), so one reader of PNG texts serves every container.
///
/// Only what holds texts is read: no pixel is decoded, except to look for stealth text in a PNG
/// that has no text at all (then only its first rows, unless a signature is there). Every length
/// and offset in the file is checked before use; what cannot be read is skipped with a note in
/// `notes`, and only a file that is not an image of these kinds, or whose size cannot be found,
/// is an error.
public struct ImageTexts: Sendable, Equatable {
    /// The kinds of file read.
    public enum Container: String, Sendable, Equatable {
        case png, jpeg, webp
    }

    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    public var container: Container
    /// The texts as key/value pairs, in file order within each place they come from.
    public var texts: [PNGText]
    /// Where each text was found, one entry per text (e.g. "PNG tEXt", "EXIF UserComment (UTF-16BE)",
    /// "stealth alpha (compressed)").
    public var `where`: [String]
    /// What was skipped and why (a truncated EXIF, an XMP packet, a stealth length past the pixels).
    public var notes: [String]

    public init(width: Int, height: Int, container: Container, texts: [PNGText] = [], where: [String] = [],
                notes: [String] = []) {
        self.width = width
        self.height = height
        self.container = container
        self.texts = texts
        self.where = `where`
        self.notes = notes
    }

    /// The value of the first text with this key.
    public func text(_ key: String) -> String? {
        texts.first { $0.key == key }?.value
    }

    /// The places the texts came from, each once, in order (for a "Found in:" line).
    public var places: [String] {
        var seen = Set<String>()
        return self.where.filter { seen.insert($0).inserted }
    }

    /// The kinds of file `read` understands, for messages.
    public static let formats = "PNG, JPEG or WebP"

    /// The largest text taken from EXIF, a comment or a stealth payload (generation texts are a
    /// few kilobytes; ComfyUI workflows some hundreds): also the bound on inflating a gzip'd one.
    public static let maxTextBytes = 1 << 20

    /// Reads the size and generation texts of the image at `path`. `stealth: false` skips looking
    /// into a text-less PNG's pixels (a folder listing that must stay fast may choose so).
    public static func read(path: String, stealth: Bool = true) throws(ImageTextsError) -> ImageTexts {
        let data: Data
        do {
            data = try UserFile.read(path)
        } catch {
            throw ImageTextsError(error.description)
        }
        return try read(data: data, path: path, stealth: stealth)
    }

    /// `read(path:)` on a file in memory; errors and notes name `path`.
    static func read(data: Data, path: String, stealth: Bool) throws(ImageTextsError) -> ImageTexts {
        let bytes = ByteView(data)
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return try readPNG(data, path: path, stealth: stealth)
        }
        if bytes.starts(with: [0xFF, 0xD8]) {
            return try readJPEG(bytes, path: path)
        }
        if bytes.starts(with: Array("RIFF".utf8)), bytes.slice(8, 4).map(Array.init) == Array("WEBP".utf8) {
            return try readWebP(bytes, path: path)
        }
        throw ImageTextsError("\(path): not a \(formats) file (those are the images stipple reads generation texts from)")
    }

    /// Appends texts with one place for all of them.
    mutating func append(_ found: [PNGText], from place: String) {
        texts += found
        self.where += Array(repeating: place, count: found.count)
    }
}

/// Why an image's texts could not be read; the description is one line naming the file.
public struct ImageTextsError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

// MARK: - PNG

extension ImageTexts {
    /// Text chunks through libpng (`PNG.readAllTexts`, no pixels), then ComfyUI's `comf` chunks and
    /// an `eXIf` chunk's texts found by walking the chunks, then, for a PNG with no text at all,
    /// stealth text in its pixels.
    static func readPNG(_ data: Data, path: String, stealth: Bool) throws(ImageTextsError) -> ImageTexts {
        let header: (width: Int, height: Int, texts: [PNGText])
        do {
            header = try PNG.header(of: PNG.textsBeforeImageData(data) ?? data, path: path)
        } catch {
            throw ImageTextsError(error.description)
        }
        var result = ImageTexts(width: header.width, height: header.height, container: .png)
        let chunks = pngChunks(ByteView(data), notes: &result.notes)
        // libpng returns the text chunks in file order, so their types label them when the counts agree.
        let textTypes = chunks.filter { ["tEXt", "zTXt", "iTXt"].contains($0.type) }.map(\.type)
        for (i, text) in header.texts.enumerated() {
            let type = textTypes.count == header.texts.count ? textTypes[i] : "text chunk"
            result.append([text], from: "PNG \(type)")
        }
        for chunk in chunks where chunk.type == "comf" {
            // ComfyUI's animated PNG: "key\0value" in Latin-1, after the image data.
            let bytes = [UInt8](chunk.data)
            guard let nul = bytes.firstIndex(of: 0), let key = pngKeyword(bytes[..<nul]) else {
                result.notes.append("a comf chunk without a keyword (skipped)")
                continue
            }
            result.append([PNGText(key: key, value: textFromBytes(bytes[(nul + 1)...]))], from: "PNG comf chunk (ComfyUI)")
        }
        for chunk in chunks where chunk.type == "eXIf" {
            let found = EXIFTexts.read(chunk.data, notes: &result.notes)
            for item in found { result.append([item.text], from: "PNG eXIf " + item.place.dropFirst("EXIF ".count)) }
        }
        if stealth, result.texts.isEmpty {
            if let found = StealthText.read(pngData: data, path: path, notes: &result.notes) {
                result.append(found.texts, from: found.place)
            }
        }
        return result
    }

    /// The PNG's chunks that hold texts (types and data), walked by their lengths without reading
    /// the image data; a chunk running past the end stops the walk with a note.
    static func pngChunks(_ bytes: ByteView, notes: inout [String]) -> [(type: String, data: Data)] {
        var chunks: [(type: String, data: Data)] = []
        var offset = 8
        while offset + 8 <= bytes.count {
            guard let length = bytes.be32(offset), let typeBytes = bytes.slice(offset + 4, 4) else { break }
            let type = String(decoding: typeBytes, as: UTF8.self)
            if type == "IEND" { break }
            guard length <= Int(Int32.max), let body = bytes.slice(offset + 8, length) else {
                notes.append("PNG chunk \(TextBytes.printable(type)) runs past the end of the file (truncated); later chunks not read")
                break
            }
            if ["tEXt", "zTXt", "iTXt", "comf", "eXIf"].contains(type) { chunks.append((type, body)) }
            offset += 12 + length
        }
        return chunks
    }

    /// A PNG keyword (1-79 printable Latin-1 characters) from bytes, nil when it is not one.
    static func pngKeyword(_ bytes: ArraySlice<UInt8>) -> String? {
        guard (1...79).contains(bytes.count), bytes.allSatisfy({ (0x20...0x7E).contains($0) || $0 >= 0xA1 }) else {
            return nil
        }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// Text from bytes as PNG's tEXt is read: UTF-8 when it is valid UTF-8, else Latin-1; trailing
    /// NULs (C strings in EXIF) dropped.
    static func textFromBytes(_ bytes: some Collection<UInt8>) -> String {
        var array = [UInt8](bytes)
        while array.last == 0 { array.removeLast() }
        return array.withUnsafeBufferPointer { PNG.decodeText($0, international: false) }
    }
}

/// Bounds-checked reads from file bytes: every accessor returns nil past the end, so a length or
/// offset read from the file can never index outside it.
struct ByteView {
    let data: Data

    init(_ data: Data) {
        self.data = data
    }

    var count: Int { data.count }

    func byte(_ i: Int) -> Int? {
        i >= 0 && i < count ? Int(data[data.startIndex + i]) : nil
    }

    func be16(_ i: Int) -> Int? {
        guard let a = byte(i), let b = byte(i + 1) else { return nil }
        return a << 8 | b
    }

    func le16(_ i: Int) -> Int? {
        guard let a = byte(i), let b = byte(i + 1) else { return nil }
        return b << 8 | a
    }

    func be32(_ i: Int) -> Int? {
        guard let high = be16(i), let low = be16(i + 2) else { return nil }
        return high << 16 | low
    }

    func le32(_ i: Int) -> Int? {
        guard let low = le16(i), let high = le16(i + 2) else { return nil }
        return high << 16 | low
    }

    func le24(_ i: Int) -> Int? {
        guard let low = le16(i), let high = byte(i + 2) else { return nil }
        return high << 16 | low
    }

    /// `length` bytes from `start`, nil when any of them is outside (or the numbers overflow).
    func slice(_ start: Int, _ length: Int) -> Data? {
        guard start >= 0, length >= 0, case let (end, overflow) = start.addingReportingOverflow(length), !overflow,
              end <= count else { return nil }
        return data[(data.startIndex + start)..<(data.startIndex + end)]
    }

    func starts(with prefix: [UInt8]) -> Bool {
        count >= prefix.count && data.prefix(prefix.count).elementsEqual(prefix)
    }
}

/// Names and small texts from files made safe for a message (control characters as escapes).
enum TextBytes {
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
