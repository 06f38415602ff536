import Foundation

/// Generation texts in an EXIF (TIFF) block, as the tools write them into JPEG, WebP and PNG `eXIf`:
/// - A1111/Forge/SD.Next: UserComment (0x9286) in the Exif IFD, written by
///   `piexif.helper.UserComment.dump(..., encoding="unicode")`: "UNICODE\0" and UTF-16 big-endian
///   (piexif's `utf_16_be`), read back by A1111 as its `parameters`;
/// - SwarmUI: the same tag through ImageSharp, whose "UNICODE" is UTF-16 little-endian, holding its
///   `sui_image_params` JSON (in a PNG that is `parameters` too);
/// - Fooocus: UserComment, Software and MakerNote set on a Pillow `Image.Exif()`, so in IFD0, as
///   ASCII strings without a charset prefix; MakerNote is the scheme ("fooocus" or "a1111"), which
///   a Fooocus PNG keeps as `fooocus_scheme`;
/// - ComfyUI (animated WebP): "prompt:{json}" in Model (0x0110) and each extra PNG-info key as
///   "key:{json}" from Make (0x010F) down (the workflow), the keys its PNGs use.
/// A UNICODE comment's byte order comes from a byte-order mark when there is one, else from where
/// the zero bytes of its (mostly ASCII) text fall, else from the TIFF's own byte order, so both
/// writers' files read right. Only IFD0 and the Exif IFD are read; each is visited once (an offset
/// loop ends there) and every entry's count and offset are checked against the block's size.
enum EXIFTexts {
    /// A text found, with where it was ("UserComment (UTF-16BE)").
    struct Found {
        var text: PNGText
        var place: String
    }

    /// An entry's tag and raw value bytes.
    struct Entry {
        var tag: Int
        var type: Int
        var value: [UInt8]
    }

    static let userComment = 0x9286
    static let makerNote = 0x927C
    static let software = 0x0131
    static let exifPointer = 0x8769
    /// Where ComfyUI writes its JSON texts, in the order it writes them, with the tags' names.
    static let comfyTags: [(tag: Int, name: String)] = [
        (0x0110, "Model"), (0x010F, "Make"), (0x010E, "ImageDescription"), (0x010D, "DocumentName"),
    ]
    static let wanted: Set<Int> = Set([userComment, makerNote, software] + comfyTags.map(\.tag))

    /// The texts of an EXIF block (a TIFF, optionally after "Exif\0\0").
    static func read(_ block: Data, notes: inout [String]) -> [Found] {
        let entries = parse(block, notes: &notes)
        guard let littleEndian = entries.littleEndian else { return [] }
        var found: [Found] = []
        // UserComment first, then Fooocus's scheme, then ComfyUI's texts: a PNG's order.
        for entry in entries.list where entry.tag == userComment {
            guard let (text, charset) = decodeUserComment(entry.value, tiffLittleEndian: littleEndian, notes: &notes),
                  !text.isEmpty else { continue }
            found.append(Found(text: PNGText(key: "parameters", value: text), place: "EXIF UserComment" + charset))
        }
        for entry in entries.list where entry.tag == makerNote {
            let scheme = ImageTexts.textFromBytes(entry.value)
            if scheme == "fooocus" || scheme == "a1111" {
                found.append(Found(text: PNGText(key: "fooocus_scheme", value: scheme), place: "EXIF MakerNote (Fooocus)"))
            }
        }
        for (tag, name) in comfyTags {
            for entry in entries.list where entry.tag == tag {
                if let text = comfyText(ImageTexts.textFromBytes(entry.value)) {
                    found.append(Found(text: text, place: "EXIF \(name) (ComfyUI)"))
                }
            }
        }
        return found
    }

    /// "key:{json}" (or a JSON array or string) as ComfyUI writes it, with a PNG keyword for a key.
    static func comfyText(_ text: String) -> PNGText? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let key = text[..<colon]
        let value = text[text.index(after: colon)...]
        guard let first = value.first, "{[\"".contains(first),
              key.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "_- ".unicodeScalars.contains($0) }),
              let keyword = ImageTexts.pngKeyword(ArraySlice(key.utf8)) else { return nil }
        return PNGText(key: keyword, value: String(value))
    }

    /// The entries of interest of IFD0 and the Exif IFD, and the TIFF's byte order (nil when the
    /// block is not a TIFF).
    static func parse(_ block: Data, notes: inout [String]) -> (list: [Entry], littleEndian: Bool?) {
        var bytes = ByteView(block)
        if bytes.starts(with: Array("Exif\0\0".utf8)) { bytes = ByteView(block.dropFirst(6)) }
        let order = bytes.slice(0, 4).map(Array.init)
        let littleEndian: Bool
        switch order {
        case [0x49, 0x49, 0x2A, 0x00]?: littleEndian = true
        case [0x4D, 0x4D, 0x00, 0x2A]?: littleEndian = false
        default:
            notes.append("EXIF block without a TIFF header (skipped)")
            return ([], nil)
        }
        let u16 = { (i: Int) -> Int? in littleEndian ? bytes.le16(i) : bytes.be16(i) }
        let u32 = { (i: Int) -> Int? in littleEndian ? bytes.le32(i) : bytes.be32(i) }
        var list: [Entry] = []
        var visited = Set<Int>()
        var pending = [u32(4) ?? -1]
        while let offset = pending.popLast() {
            guard visited.insert(offset).inserted else {
                notes.append("EXIF IFD offsets loop back to an IFD already read (the loop is not followed)")
                continue
            }
            guard visited.count <= 4 else { break }
            guard let declared = u16(offset) else {
                notes.append("EXIF IFD offset \(offset) is past the end of the block (truncated EXIF)")
                continue
            }
            let fitting = max(0, (bytes.count - offset - 2) / 12)
            if declared > fitting {
                notes.append("EXIF IFD declares \(declared) entries but the block holds \(fitting) (truncated EXIF)")
            }
            for index in 0..<min(declared, fitting) {
                let at = offset + 2 + index * 12
                guard let tag = u16(at), let type = u16(at + 2), let count = u32(at + 4) else { break }
                if tag == exifPointer, let target = u32(at + 8) {
                    pending.append(target)
                    continue
                }
                guard wanted.contains(tag) else { continue }
                let unit = [1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4][type] ?? 0
                let (size, overflow) = count.multipliedReportingOverflow(by: unit)
                guard unit > 0, !overflow, size <= ImageTexts.maxTextBytes else {
                    notes.append("EXIF tag \(hex(tag)) has an unusable type or size (skipped)")
                    continue
                }
                let valueOffset = size <= 4 ? at + 8 : (u32(at + 8) ?? -1)
                guard let value = bytes.slice(valueOffset, size) else {
                    notes.append("EXIF tag \(hex(tag)): its \(size) bytes run past the end of the block (truncated EXIF; skipped)")
                    continue
                }
                list.append(Entry(tag: tag, type: type, value: [UInt8](value)))
            }
        }
        return (list, littleEndian)
    }

    static func hex(_ tag: Int) -> String {
        let digits = String(tag, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// A UserComment's text and its charset for the place (" (UTF-16BE)"); nil when it cannot be
    /// read (a note says why). Without a known 8-byte charset prefix the whole value is the text
    /// (as A1111 falls back to reading it as UTF-8, and as Fooocus writes it).
    static func decodeUserComment(_ value: [UInt8], tiffLittleEndian: Bool, notes: inout [String]) -> (String, String)? {
        let prefix = value.prefix(8)
        let body = value.dropFirst(8)
        switch Array(prefix) {
        case Array("ASCII\0\0\0".utf8):
            return (ImageTexts.textFromBytes(body), " (ASCII)")
        case Array("UNICODE\0".utf8):
            return decodeUTF16(body, tiffLittleEndian: tiffLittleEndian, notes: &notes)
        case Array("JIS\0\0\0\0\0".utf8):
            var bytes = [UInt8](body)
            while bytes.last == 0 { bytes.removeLast() }
            guard let text = String(bytes: bytes, encoding: .shiftJIS) else {
                notes.append("EXIF UserComment in JIS that does not decode (skipped)")
                return nil
            }
            return (text, " (JIS)")
        case [UInt8](repeating: 0, count: 8):
            return (ImageTexts.textFromBytes(body), " (undefined charset)")
        default:
            return (ImageTexts.textFromBytes(value), "")
        }
    }

    /// UTF-16 in the byte order of its BOM, else of its zero bytes, else of the TIFF. An odd byte
    /// at the end is dropped with a note; unpaired surrogates become U+FFFD.
    static func decodeUTF16(_ body: ArraySlice<UInt8>, tiffLittleEndian: Bool, notes: inout [String]) -> (String, String) {
        var bytes = [UInt8](body)
        if bytes.count % 2 == 1 {
            notes.append("EXIF UserComment: UTF-16 text of odd length \(bytes.count) (last byte dropped)")
            bytes.removeLast()
        }
        var littleEndian = tiffLittleEndian
        if bytes.starts(with: [0xFE, 0xFF]) {
            littleEndian = false
            bytes.removeFirst(2)
        } else if bytes.starts(with: [0xFF, 0xFE]) {
            littleEndian = true
            bytes.removeFirst(2)
        } else {
            var zerosFirst = 0
            var zerosSecond = 0
            for i in stride(from: 0, to: bytes.count, by: 2) {
                if bytes[i] == 0 { zerosFirst += 1 }
                if bytes[i + 1] == 0 { zerosSecond += 1 }
            }
            if zerosFirst != zerosSecond { littleEndian = zerosSecond > zerosFirst }
        }
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        for i in stride(from: 0, to: bytes.count, by: 2) {
            units.append(littleEndian ? UInt16(bytes[i + 1]) << 8 | UInt16(bytes[i]) : UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
        }
        while units.last == 0 { units.removeLast() }
        return (String(decoding: units, as: UTF16.self), littleEndian ? " (UTF-16LE)" : " (UTF-16BE)")
    }
}
