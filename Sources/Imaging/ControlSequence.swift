/// The escape sequences the image encoders write, named in one place.
/// (ECMA-48 / DEC names: ESC, CSI, DCS, APC, ST; SGR = Select Graphic Rendition.)
public enum ControlSequence {
    /// ESC, 0x1B.
    public static let escape: UInt8 = 0x1B
    /// CSI, `ESC [`: starts a control sequence.
    public static let csi: [UInt8] = [0x1B, 0x5B]
    /// DCS, `ESC P`: starts a device control string (sixel data).
    public static let dcs: [UInt8] = [0x1B, 0x50]
    /// APC, `ESC _`: starts an application program command (kitty graphics).
    public static let apc: [UInt8] = [0x1B, 0x5F]
    /// ST, `ESC \`: ends a DCS or APC string.
    public static let stringTerminator: [UInt8] = [0x1B, 0x5C]
    /// SGR 0, `CSI 0 m`: all attributes and colours back to the terminal's defaults.
    public static let resetAttributes: [UInt8] = Array("\u{1B}[0m".utf8)
    /// The `▀` UPPER HALF BLOCK (U+2580) in UTF-8: foreground paints the top half.
    public static let upperHalfBlock: [UInt8] = [0xE2, 0x96, 0x80]
    /// The `▄` LOWER HALF BLOCK (U+2584) in UTF-8: foreground paints the bottom half.
    public static let lowerHalfBlock: [UInt8] = [0xE2, 0x96, 0x84]
}

/// Appending decimal numbers and ASCII text to a byte buffer without going through String.
extension Array where Element == UInt8 {
    /// Appends `value` in decimal ASCII.
    @inlinable mutating func appendDecimal(_ value: Int) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            appendDecimal(-value)
            return
        }
        if value < 10 {
            append(UInt8(48 + value))
        } else if value < 100 {
            append(UInt8(48 + value / 10)); append(UInt8(48 + value % 10))
        } else if value < 1000 {
            append(UInt8(48 + value / 100)); append(UInt8(48 + value / 10 % 10)); append(UInt8(48 + value % 10))
        } else {
            append(contentsOf: String(value).utf8)
        }
    }

    /// Appends an ASCII string's bytes.
    @inlinable mutating func appendASCII(_ text: StaticString) {
        text.withUTF8Buffer { append(contentsOf: $0) }
    }
}
