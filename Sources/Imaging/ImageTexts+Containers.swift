import Foundation

// JPEG and WebP: their segments and chunks are walked by their lengths up to the image data;
// the EXIF block goes to EXIFTexts, XMP is left unread with a note.

extension ImageTexts {
    /// A JPEG's APP1 "Exif" segments and COM comments, and its size from the frame header (SOFn).
    /// The walk ends at the scan (SOS), where metadata segments no longer come. A comment is
    /// `parameters` when no EXIF gave one (A1111's `read_info_from_image` reads `comment` when a
    /// file has no EXIF), else `comment`.
    static func readJPEG(_ bytes: ByteView, path: String) throws(ImageTextsError) -> ImageTexts {
        var result = ImageTexts(width: 0, height: 0, container: .jpeg)
        var comments: [String] = []
        var size: (width: Int, height: Int)?
        var offset = 2
        walk: while offset < bytes.count {
            guard bytes.byte(offset) == 0xFF else {
                result.notes.append("JPEG: no marker at byte \(offset) (the rest is not read)")
                break
            }
            // Fill bytes (0xFF repeated) may precede a marker.
            var markerAt = offset + 1
            while bytes.byte(markerAt) == 0xFF { markerAt += 1 }
            guard let marker = bytes.byte(markerAt) else { break }
            offset = markerAt + 1
            switch marker {
            case 0xD8, 0x01, 0xD0...0xD7:  // no length
                continue walk
            case 0xD9, 0xDA:  // end of image, start of scan
                break walk
            default:
                break
            }
            guard let length = bytes.be16(offset), length >= 2, let body = bytes.slice(offset + 2, length - 2) else {
                result.notes.append("JPEG segment \(ExifMarker.name(marker)) runs past the end of the file (truncated)")
                break
            }
            offset += length
            let segment = ByteView(body)
            switch marker {
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                if size == nil, let height = segment.be16(1), let width = segment.be16(3) { size = (width, height) }
            case 0xE1 where segment.starts(with: Array("Exif\0\0".utf8)):
                for item in EXIFTexts.read(body, notes: &result.notes) { result.append([item.text], from: item.place) }
            case 0xE1 where segment.starts(with: Array("http://ns.adobe.com/xap/1.0/".utf8)):
                result.notes.append("XMP packet not read (stipple reads EXIF and comments)")
            case 0xFE:
                if body.count > maxTextBytes {
                    result.notes.append("JPEG comment of \(body.count) bytes is too long (skipped)")
                } else if !body.isEmpty {
                    comments.append(textFromBytes(body))
                }
            default:
                break
            }
        }
        for comment in comments where !comment.isEmpty {
            let key = result.text("parameters") == nil ? "parameters" : "comment"
            result.append([PNGText(key: key, value: comment)], from: "JPEG COM")
        }
        guard let size, size.width > 0, size.height > 0 else {
            throw ImageTextsError("\(path): JPEG without a frame header giving its size (a truncated or broken file)")
        }
        (result.width, result.height) = size
        return result
    }

    /// A WebP's RIFF chunks: the size from VP8X (extended), VP8 (lossy) or VP8L (lossless), the
    /// texts from its EXIF chunk (with or without the "Exif\0\0" that some writers keep).
    static func readWebP(_ bytes: ByteView, path: String) throws(ImageTextsError) -> ImageTexts {
        var result = ImageTexts(width: 0, height: 0, container: .webp)
        var size: (width: Int, height: Int)?
        // The RIFF size counts from byte 8; a file shorter than it says is read as far as it goes.
        let end = min(bytes.count, (bytes.le32(4) ?? 0) + 8)
        var offset = 12
        while offset + 8 <= end {
            guard let fourCC = bytes.slice(offset, 4), let length = bytes.le32(offset + 4) else { break }
            let name = String(decoding: fourCC, as: UTF8.self)
            guard let body = bytes.slice(offset + 8, length), offset + 8 + length <= end else {
                result.notes.append("WebP chunk \(TextBytes.printable(name)) runs past the end of the file (truncated)")
                break
            }
            let chunk = ByteView(body)
            switch name {
            case "VP8X":
                if let w = chunk.le24(4), let h = chunk.le24(7) { size = (w + 1, h + 1) }
            case "VP8 ":
                if size == nil, chunk.slice(3, 3).map(Array.init) == [0x9D, 0x01, 0x2A],
                   let w = chunk.le16(6), let h = chunk.le16(8) {
                    size = (w & 0x3FFF, h & 0x3FFF)
                }
            case "VP8L":
                if size == nil, chunk.byte(0) == 0x2F, let bits = chunk.le32(1) {
                    size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
                }
            case "EXIF":
                for item in EXIFTexts.read(body, notes: &result.notes) { result.append([item.text], from: item.place) }
            case "XMP ":
                result.notes.append("XMP packet not read (stipple reads EXIF)")
            default:
                break
            }
            offset += 8 + length + (length & 1)
        }
        guard let size, size.width > 0, size.height > 0 else {
            throw ImageTextsError("\(path): WebP without a VP8, VP8L or VP8X header giving its size (a truncated or broken file)")
        }
        (result.width, result.height) = size
        return result
    }
}

/// JPEG marker names for messages.
enum ExifMarker {
    static func name(_ marker: Int) -> String {
        switch marker {
        case 0xE0...0xEF: "APP\(marker - 0xE0)"
        case 0xFE: "COM"
        case 0xDB: "DQT"
        case 0xC4: "DHT"
        case 0xC0...0xCF: "SOF\(marker - 0xC0)"
        default: "0xFF" + String(marker, radix: 16, uppercase: true)
        }
    }
}
