/// A key press (or a paste) as the studio sees it.
public enum Key: Equatable, Sendable {
    /// A printable character.
    case character(Character)
    /// Text pasted in one go (bracketed paste), newlines included.
    case paste(String)
    case enter
    /// Alt-Enter (and Shift-Enter where the terminal reports it): a newline in a text field.
    case newline
    case escape
    case tab
    case backTab
    case backspace
    case delete
    case up, down, left, right
    case wordLeft, wordRight
    case home, end, pageUp, pageDown
    /// Ctrl plus a letter, lower case (`ctrl("s")`); Ctrl-I, Ctrl-M and Ctrl-[ arrive as tab,
    /// enter and escape.
    case ctrl(Character)
    /// Alt plus a character (ESC then the character).
    case alt(Character)
    /// Function keys F1-F12.
    case function(Int)
}

/// Turns the bytes a terminal sends for keys into `Key`s: UTF-8 text, control characters, CSI and
/// SS3 sequences of xterm-like terminals (arrows, Home/End, Delete, PageUp/Down, F1-F12, Ctrl/Alt
/// modified arrows, Shift-Tab), Alt as an ESC prefix, and bracketed paste. A lone ESC at the end of
/// the bytes read so far may start a sequence, so it waits: `flush()` (called when no more bytes
/// arrived for a moment) turns it into `.escape`.
public struct KeyDecoder: Sendable {
    private var buffer: [UInt8] = []
    /// Bytes of a bracketed paste in progress.
    private var pasted: [UInt8]?

    public init() {}

    /// Whether bytes are waiting for more (a lone ESC or an unfinished sequence).
    public var isPending: Bool { !buffer.isEmpty || pasted != nil }

    /// Keys completed by `bytes`.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Key] {
        buffer.append(contentsOf: bytes)
        var keys: [Key] = []
        while let (key, used) = decodeOne() {
            buffer.removeFirst(used)
            if let key { keys.append(key) }
        }
        return keys
    }

    /// Ends a wait: a lone ESC becomes `.escape`, an unfinished sequence is dropped.
    public mutating func flush() -> [Key] {
        defer { buffer.removeAll() }
        if buffer == [EscapeSequence.escape] { return [.escape] }
        if buffer.first == EscapeSequence.escape, buffer.count == 2, let alt = Self.character(in: Array(buffer[1...])) {
            return [.alt(alt.0)]
        }
        return []
    }

    /// The first key in `buffer` and the bytes it used; a nil key for bytes that make none
    /// (unknown sequences, the paste markers); nil when more bytes are needed.
    private mutating func decodeOne() -> (Key?, Int)? {
        guard let first = buffer.first else { return nil }
        if pasted != nil { return decodePaste() }
        switch first {
        case EscapeSequence.escape: return decodeEscape()
        case 0x0D, 0x0A: return (.enter, 1)
        case 0x09: return (.tab, 1)
        case 0x7F, 0x08: return (.backspace, 1)
        case 0x00: return (.ctrl(" "), 1)
        case 0x01...0x1A: return (.ctrl(Character(UnicodeScalar(first + 0x60))), 1)
        case 0x1C...0x1F: return (nil, 1)
        default:
            guard let (character, count) = Self.character(in: buffer) else {
                // An incomplete UTF-8 sequence waits; an invalid lead byte is dropped.
                return Self.utf8Length(first).map { $0 > buffer.count } == true ? nil : (nil, 1)
            }
            return (.character(character), count)
        }
    }

    private mutating func decodeEscape() -> (Key?, Int)? {
        guard buffer.count >= 2 else { return nil }  // a lone ESC waits for flush()
        switch buffer[1] {
        case UInt8(ascii: "["): return decodeCSI()
        case UInt8(ascii: "O"):
            guard buffer.count >= 3 else { return nil }
            let key: Key? = switch buffer[2] {
            case UInt8(ascii: "A"): .up
            case UInt8(ascii: "B"): .down
            case UInt8(ascii: "C"): .right
            case UInt8(ascii: "D"): .left
            case UInt8(ascii: "H"): .home
            case UInt8(ascii: "F"): .end
            case UInt8(ascii: "P"): .function(1)
            case UInt8(ascii: "Q"): .function(2)
            case UInt8(ascii: "R"): .function(3)
            case UInt8(ascii: "S"): .function(4)
            case UInt8(ascii: "M"): .enter
            default: nil
            }
            return (key, 3)
        case 0x0D, 0x0A: return (.newline, 2)
        case 0x7F, 0x08: return (.ctrl("w"), 2)  // Alt-Backspace deletes a word
        case EscapeSequence.escape: return (.escape, 1)  // ESC ESC: the first is a lone escape
        default:
            // ESC then a control character: a lone escape, then that key.
            guard buffer[1] >= 0x20, let length = Self.utf8Length(buffer[1]) else { return (.escape, 1) }
            guard buffer.count >= 1 + length else { return nil }
            guard let (character, count) = Self.character(in: Array(buffer[1...])) else { return (.escape, 1) }
            return (.alt(character), 1 + count)
        }
    }

    /// CSI: ESC [ parameters (0x30-0x3F)* intermediates (0x20-0x2F)* final (0x40-0x7E).
    private mutating func decodeCSI() -> (Key?, Int)? {
        var i = 2
        while i < buffer.count, (0x20...0x3F).contains(buffer[i]) { i += 1 }
        guard i < buffer.count else { return nil }
        let final = buffer[i]
        let length = i + 1
        let parameters = String(decoding: buffer[2..<i], as: UTF8.self).split(separator: ";").map { Int($0) ?? 0 }
        let modifier = parameters.count >= 2 ? parameters[1] : 1
        let control = modifier == 5 || modifier == 3  // Ctrl or Alt held
        switch final {
        case UInt8(ascii: "A"): return (.up, length)
        case UInt8(ascii: "B"): return (.down, length)
        case UInt8(ascii: "C"): return (control ? .wordRight : .right, length)
        case UInt8(ascii: "D"): return (control ? .wordLeft : .left, length)
        case UInt8(ascii: "H"): return (.home, length)
        case UInt8(ascii: "F"): return (.end, length)
        case UInt8(ascii: "Z"): return (.backTab, length)
        case UInt8(ascii: "P"): return (.function(1), length)
        case UInt8(ascii: "Q"): return (.function(2), length)
        case UInt8(ascii: "R"): return (.function(3), length)
        case UInt8(ascii: "S"): return (.function(4), length)
        case UInt8(ascii: "u"):  // kitty/fixterms: CSI code ; modifiers u
            if parameters.first == 13 { return (modifier > 1 ? .newline : .enter, length) }
            if parameters.first == 27 { return (.escape, length) }
            return (nil, length)
        case UInt8(ascii: "~"):
            switch parameters.first ?? 0 {
            case 1, 7: return (.home, length)
            case 2: return (nil, length)  // Insert
            case 3: return (.delete, length)
            case 4, 8: return (.end, length)
            case 5: return (.pageUp, length)
            case 6: return (.pageDown, length)
            case 11...15: return (.function(parameters[0] - 10), length)
            case 17...21: return (.function(parameters[0] - 11), length)
            case 23, 24: return (.function(parameters[0] - 12), length)
            case 200:
                pasted = []
                return (nil, length)
            default: return (nil, length)
            }
        default:
            return (nil, length)
        }
    }

    /// Inside a bracketed paste: everything up to ESC [ 201 ~ is text.
    private mutating func decodePaste() -> (Key?, Int)? {
        let end = EscapeSequence.Bytes.pasteEnd
        if buffer.starts(with: end) {
            let text = String(decoding: pasted ?? [], as: UTF8.self)
            pasted = nil
            return (.paste(text), end.count)
        }
        if buffer.first == EscapeSequence.escape && end.starts(with: buffer) { return nil }  // maybe the end marker, wait
        pasted?.append(buffer[0])
        return (nil, 1)
    }

    /// The first UTF-8 character in `bytes` and its byte count, nil if incomplete or invalid.
    static func character(in bytes: [UInt8]) -> (Character, Int)? {
        guard let first = bytes.first, let length = utf8Length(first), bytes.count >= length else { return nil }
        guard let text = String(validating: bytes[0..<length], as: UTF8.self), let character = text.first else {
            return nil
        }
        return (character, length)
    }

    /// Bytes of a UTF-8 sequence starting with `lead`, nil for a byte that cannot start one.
    static func utf8Length(_ lead: UInt8) -> Int? {
        switch lead {
        case 0x00...0x7F: 1
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: nil
        }
    }
}
