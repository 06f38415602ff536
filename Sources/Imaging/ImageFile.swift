import Foundation
import UserFiles

/// The image formats whose pixels stipple decodes, told apart by their first bytes (never by the
/// file's name: a ".png" saved by a browser is often a JPEG).
public enum ImageFormat: String, Sendable, Equatable {
    case png = "PNG"
    case jpeg = "JPEG"

    /// The format `bytes` start like, or nil.
    public init?(of bytes: some Collection<UInt8>) {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else {
            return nil
        }
    }

    /// What a file that is neither looks like, for the refusal: a few formats people do have.
    static func otherKind(of bytes: some Collection<UInt8>) -> String? {
        let head = Array(bytes.prefix(12))
        if head.starts(with: Array("RIFF".utf8)), head.count == 12, head[8...] == Array("WEBP".utf8)[...] {
            return "a WebP image"
        }
        if head.starts(with: Array("GIF8".utf8)) { return "a GIF image" }
        if head.starts(with: [0x42, 0x4D]) { return "a BMP image" }
        if head.count == 12, head[4..<8] == Array("ftyp".utf8)[...] { return "an AVIF, HEIC or other ISO media file" }
        return nil
    }
}

/// Why an image file could not be decoded; the description is one line naming the problem (and
/// the file, from `read`).
public struct ImageFileError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Decoding a PNG or a JPEG, whichever the bytes are: init images, `stipple show`, previews.
public enum ImageFile {
    /// The formats `decode` reads, for messages.
    public static let formats = "PNG or JPEG"

    /// The pixels of PNG or JPEG bytes (8-bit RGB, or RGBA for a PNG with alpha). PNG text chunks
    /// are not returned: `PNG.decode` gives them.
    public static func decode(_ data: some ContiguousBytes) throws(ImageFileError) -> RGBImage {
        let format = data.withUnsafeBytes { raw in ImageFormat(of: raw.prefix(8)) }
        switch format {
        case .png:
            do {
                return try PNG.decode(data).image
            } catch {
                throw ImageFileError(error.description)
            }
        case .jpeg:
            do {
                return try JPEG.decode(data)
            } catch {
                throw ImageFileError(error.description)
            }
        case nil:
            let kind = data.withUnsafeBytes { raw in ImageFormat.otherKind(of: raw.prefix(12)) }
            throw ImageFileError("not a \(formats) file" + (kind.map { " (\($0))" } ?? ""))
        }
    }

    /// Reads and decodes a PNG or JPEG file; errors name the file.
    public static func read(path: String) throws(ImageFileError) -> RGBImage {
        let data: Data
        do {
            data = try UserFile.read(path)
        } catch {
            throw ImageFileError(error.description)
        }
        do {
            return try decode(data)
        } catch {
            throw ImageFileError("\(path): \(error.description)")
        }
    }
}
