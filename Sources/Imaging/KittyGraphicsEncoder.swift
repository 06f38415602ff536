import Foundation
import TerminalBytes

/// Encodes an image for the kitty graphics protocol: the image as PNG, base64 in chunks of at
/// most 4096 bytes, transmitted and displayed at the cursor (`a=T`), with replies suppressed
/// (`q=2`) so nothing lands in the shell's input.
public struct KittyGraphicsEncoder: Sendable {
    public init() {}

    /// The escape sequences that show `image`, scaled by the terminal to `columns` x `rows` cells
    /// when given (else shown at its own pixel size).
    public func encode(_ image: RGBImage, columns: Int? = nil, rows: Int? = nil) throws(PNGError) -> [UInt8] {
        let png = try PNG.encode(image, compressionLevel: 1)
        let payload = [UInt8](Data(png).base64EncodedData())
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + payload.count / 4096 * 16 + 64)
        var offset = 0
        repeat {
            let end = min(payload.count, offset + 4096)
            out.append(contentsOf: EscapeSequence.Bytes.kittyGraphicsStart)
            if offset == 0 {
                out.appendASCII("a=T,f=100,q=2")
                if let columns { out.appendASCII(",c="); out.appendDecimal(columns) }
                if let rows { out.appendASCII(",r="); out.appendDecimal(rows) }
                out.append(UInt8(ascii: ","))
            }
            out.appendASCII("m=")
            out.append(end < payload.count ? UInt8(ascii: "1") : UInt8(ascii: "0"))
            out.append(UInt8(ascii: ";"))
            out.append(contentsOf: payload[offset..<end])
            out.append(contentsOf: EscapeSequence.Bytes.stringTerminator)
            offset = end
        } while offset < payload.count
        return out
    }
}
