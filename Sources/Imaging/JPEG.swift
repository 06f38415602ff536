import Foundation
import JPEGBridge
import UserFiles

/// What went wrong reading a JPEG; the description is one line naming the problem.
public struct JPEGError: Error, CustomStringConvertible, Equatable {
    /// One line: what is wrong.
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// JPEG decoding through libjpeg-turbo (the JPEGBridge C target owns every libjpeg call, since
/// libjpeg's errors leave by longjmp). ComfyUI's live previews arrive as JPEG, and so do many of
/// the photos people start img2img from.
public enum JPEG {
    /// The largest width or height accepted when decoding (PNG's limit).
    public static let maxSide = PNG.maxSide
    /// The largest number of pixels accepted when decoding (PNG's limit: 256 megapixels).
    public static let maxPixels = PNG.maxPixels

    /// Decodes JPEG bytes to 8-bit RGB: baseline and progressive files, any chroma subsampling
    /// (arithmetic-coded files, which browsers do not read either, are refused); greyscale is widened, CMYK and YCCK converted (Adobe's inverted CMYK, as
    /// Photoshop and Pillow write it). EXIF orientation is not applied: the pixels are as stored.
    /// An image wider or taller than `maxSide`, or with more than `maxPixels` pixels, is refused
    /// before its pixels are allocated (a server's preview can be held to less than a photo), and
    /// so is data that ends early or is corrupt inside a scan, where libjpeg itself would fill
    /// grey.
    public static func decode(_ data: some ContiguousBytes, maxSide: Int = JPEG.maxSide,
                              maxPixels: Int = JPEG.maxPixels) throws(JPEGError) -> RGBImage {
        var result = stipple_jpeg_decoded()
        let status = data.withUnsafeBytes { raw -> Int32 in
            let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            return stipple_jpeg_decode(base, raw.count, UInt32(clamping: max(0, maxSide)),
                                       UInt64(clamping: max(0, maxPixels)), &result)
        }
        defer { stipple_jpeg_decoded_free(&result) }
        guard status == 0 else {
            throw JPEGError(PNG.errorText(&result.error))
        }
        guard result.width > 0, result.height > 0, let pixels = result.pixels else {
            throw JPEGError("corrupt JPEG (no pixels decoded)")  // the bridge never returns this; no trap if it did
        }
        let count = Int(result.width) * Int(result.height) * 3
        return RGBImage(width: Int(result.width), height: Int(result.height), hasAlpha: false,
                        pixels: [UInt8](UnsafeBufferPointer(start: pixels, count: count)))
    }

    /// Reads and decodes a JPEG file; errors name the file.
    public static func read(path: String) throws(JPEGError) -> RGBImage {
        let data: Data
        do {
            data = try UserFile.read(path)
        } catch {
            throw JPEGError(error.description)
        }
        do {
            return try decode(data)
        } catch {
            throw JPEGError("\(path): \(error.description)")
        }
    }

    /// The libjpeg-turbo version stipple was built with, e.g. "2.1.5".
    public static var libraryVersion: String {
        let v = stipple_jpeg_library_version()
        return "\(v / 1_000_000).\(v / 1000 % 1000).\(v % 1000)"
    }
}
