/// Text from files and models made safe to show on a terminal: every character a terminal would
/// act on instead of showing becomes a visible escape, so a PNG's prompt, a config value or a file
/// name cannot set the clipboard (`ESC ] 52`), retitle the window, clear the screen or reorder
/// what is shown. The one helper for it: the studio's screens pass everything they draw through
/// it, and the command line passes what it prints (info, warnings, error messages).
public enum TerminalText {
    /// `text` with control characters escaped: ESC as `\e`, CR as `\r`, other C0 controls and
    /// DEL as `\xHH`, C1 controls (U+0080-U+009F: CSI U+009B, NEL U+0085...) and the Unicode
    /// bidirectional overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069) and line
    /// and paragraph separators (U+2028, U+2029) as `\u{HH}`. Newline and tab are escaped as `\n`
    /// and `\t` too unless `keepingLineBreaks` (multi-line output such as a prompt's lines).
    /// Backslashes stay as they are (prompts use `\(` for literal brackets), so the result is for
    /// reading, not for parsing back. Escaping twice changes nothing more.
    public static func visible(_ text: String, keepingLineBreaks: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepingLineBreaks: keepingLineBreaks) }) else {
            return text
        }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar, keepingLineBreaks: keepingLineBreaks) else {
                result.append(scalar)
                continue
            }
            result.append(contentsOf: escape(scalar).unicodeScalars)
        }
        return String(result)
    }

    /// Whether `scalar` is shown as an escape.
    public static func needsEscape(_ scalar: Unicode.Scalar, keepingLineBreaks: Bool) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: !keepingLineBreaks
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029: true
        default: false
        }
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16)
        switch scalar.value {
        case UInt32(EscapeSequence.escape): return "\\e"
        case 0x0A: return "\\n"
        case 0x09: return "\\t"
        case 0x0D: return "\\r"
        case 0x00...0x1F, 0x7F: return "\\x" + (hex.count < 2 ? "0" : "") + hex
        default: return "\\u{" + hex + "}"
        }
    }
}
