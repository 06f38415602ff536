/// How many terminal columns text takes, with wcwidth semantics: East Asian Wide and Fullwidth
/// characters and emoji shown as emoji take two, combining marks and other zero-width characters
/// none, everything else one. Our own table rather than the C library's `wcwidth`, whose answers
/// depend on the locale and the glibc version (see docs/DECISIONS.md, "Text width in columns").
///
/// A `Character` (a grapheme cluster, what the editors move over) is as wide as its first scalar,
/// the rest of the cluster (combining marks, zero-width joiners and what they join) adding nothing,
/// except that an emoji presentation selector (U+FE0F) after a base or a pair of regional
/// indicators (a flag) makes it two wide, as terminals draw them.
public enum ColumnWidth {
    /// Columns `scalar` takes on its own: 0, 1 or 2. Control characters count 0 (wcwidth says -1;
    /// stipple never draws them raw, `TerminalText.visible` escapes them first).
    public static func of(_ scalar: Unicode.Scalar) -> Int {
        let value = scalar.value
        if value < 0x7F { return value < 0x20 ? 0 : 1 }
        if value < 0xA0 { return 0 }
        if value == 0xAD { return 1 }  // soft hyphen: shown, as glibc and xterm do
        if value < 0x300 { return 1 }
        if isWide(value) || scalar.properties.isEmojiPresentation { return 2 }
        if (0x1160...0x11FF).contains(value) || (0xD7B0...0xD7FF).contains(value) { return 0 }  // Hangul jamo vowels, finals
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: return 1
        }
    }

    /// Columns `character` takes (see the type's comment for clusters).
    public static func of(_ character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if let ascii = character.asciiValue { return ascii < 0x20 || ascii == 0x7F ? 0 : 1 }
        let width = of(first)
        if width == 2 || scalars.count == 1 { return width }
        if scalars.contains("\u{FE0F}") { return 2 }
        if isRegionalIndicator(first), scalars.count == 2, scalars.allSatisfy(isRegionalIndicator) { return 2 }
        return width
    }

    /// Columns `text` (a string, or characters) takes on one line.
    public static func of(_ text: some Sequence<Character>) -> Int {
        text.reduce(0) { $0 + of($1) }
    }

    /// The longest start of `text` that fits in `columns` columns (a wide character that would
    /// straddle the edge is left out).
    public static func prefix(_ text: some StringProtocol, columns: Int) -> Substring {
        let text = Substring(text)
        var used = 0
        var end = text.startIndex
        for index in text.indices {
            used += of(text[index])
            if used > columns { break }
            end = text.index(after: index)
        }
        return text[..<end]
    }

    private static func isRegionalIndicator(_ scalar: Unicode.Scalar) -> Bool {
        (0x1F1E6...0x1F1FF).contains(scalar.value)
    }

    /// Whether `value` is East Asian Wide or Fullwidth: binary search of `wide`.
    static func isWide(_ value: UInt32) -> Bool {
        if value < wide[0].lowerBound { return false }
        var low = 0, high = wide.count - 1
        while low <= high {
            let middle = (low + high) / 2
            if value < wide[middle].lowerBound {
                high = middle - 1
            } else if value > wide[middle].upperBound {
                low = middle + 1
            } else {
                return true
            }
        }
        return false
    }

    /// East_Asian_Width W and F (Unicode 14's EastAsianWidth.txt), sorted ranges; unassigned code
    /// points between two ranges are merged into them, and planes 2 and 3 (CJK extensions, W by
    /// default) are wide whole. Emoji of later versions are caught by `isEmojiPresentation`.
    static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0, 0x23F3...0x23F3,
        0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F, 0x2693...0x2693, 0x26A1...0x26A1,
        0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA,
        0x26F2...0x26F3, 0x26F5...0x26F5, 0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B,
        0x2728...0x2728, 0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
        0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55, 0x2E80...0x303E,
        0x3041...0x3247, 0x3250...0x4DBF, 0x4E00...0xA4C6, 0xA960...0xA97C, 0xAC00...0xD7A3, 0xF900...0xFAD9,
        0xFE10...0xFE19, 0xFE30...0xFE6B, 0xFF01...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x1B2FB, 0x1F004...0x1F004,
        0x1F0CF...0x1F0CF, 0x1F18E...0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F320, 0x1F32D...0x1F335,
        0x1F337...0x1F37C, 0x1F37E...0x1F393, 0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0,
        0x1F3F4...0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440...0x1F440, 0x1F442...0x1F4FC, 0x1F4FF...0x1F53D,
        0x1F54B...0x1F54E, 0x1F550...0x1F567, 0x1F57A...0x1F57A, 0x1F595...0x1F596, 0x1F5A4...0x1F5A4,
        0x1F5FB...0x1F64F, 0x1F680...0x1F6C5, 0x1F6CC...0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6DF,
        0x1F6EB...0x1F6EC, 0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7F0, 0x1F90C...0x1F93A, 0x1F93C...0x1F945,
        0x1F947...0x1F9FF, 0x1FA70...0x1FAF6, 0x20000...0x3FFFD
    ]
}
