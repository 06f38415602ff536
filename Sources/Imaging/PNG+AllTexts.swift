import Foundation
import UserFiles

extension PNG {
    /// The size and every text chunk of a PNG, those after the image data included (where some
    /// tools append them), without decoding a pixel: `stipple info` on a 16384x16384 image reads
    /// a few kilobytes, where decoding would take 1.6 GB. The chunks are walked by their lengths
    /// (the file is memory-mapped, so the image data is skipped, not read); text chunks that follow
    /// the image data are moved before an empty IDAT in a small copy, which libpng then reads as
    /// `readHeader` does. Texts come in file order.
    public static func readAllTexts(path: String) throws(PNGError) -> (width: Int, height: Int, texts: [PNGText]) {
        let data = try fileData(path)
        return try header(of: textsBeforeImageData(data) ?? data, path: path)
    }

    /// The PNG's chunks up to its first IDAT, then its later text chunks, then an empty IDAT and
    /// IEND; nil when nothing follows the image data worth moving, or the chunk structure is
    /// broken (libpng then reads the original and reports the problem).
    static func textsBeforeImageData(_ data: Data) -> Data? {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        return data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Data? in
            guard bytes.count >= 8, signature.elementsEqual(bytes[0..<8]) else { return nil }
            var offset = 8
            var firstImageData: Int?
            var later: [Range<Int>] = []
            while offset + 12 <= bytes.count {
                let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8
                    | Int(bytes[offset + 3])
                let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
                let end = offset + 12 + length
                guard length <= Int(Int32.max), end <= bytes.count else { return nil }
                if type == "IDAT", firstImageData == nil { firstImageData = offset }
                if firstImageData != nil, ["tEXt", "zTXt", "iTXt"].contains(type) { later.append(offset..<end) }
                if type == "IEND" { break }
                offset = end
            }
            guard let firstImageData, !later.isEmpty else { return nil }
            var copy = Data(bytes[0..<firstImageData])
            for range in later { copy.append(contentsOf: bytes[range]) }
            copy.append(contentsOf: [0, 0, 0, 0, 0x49, 0x44, 0x41, 0x54, 0x35, 0xAF, 0x06, 0x1E])  // empty IDAT
            copy.append(contentsOf: [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])  // IEND
            return copy
        }
    }
}
