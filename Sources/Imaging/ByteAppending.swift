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
