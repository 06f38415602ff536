/// Reads the raw bytes a terminal sends back to the probe's queries and keeps the replies it
/// recognises (see ``EscapeSequence`` for the queries).
///
/// A small state machine after the VT500 parser: ground, escape, control sequence, string
/// (DCS, OSC, APC, PM, SOS). Bytes may arrive split anywhere and replies in any order; stray
/// keystrokes, unrelated sequences and strings are skipped, and an unfinished sequence at the end
/// is simply not reported. Only 7-bit introducers are understood (`ESC [`, `ESC _`): a lone 0x9B
/// is more likely part of a UTF-8 keystroke than an 8-bit CSI.
public struct TerminalReplyParser: Sendable {
    /// The replies recognised so far.
    public private(set) var replies = TerminalReplies()

    private enum State: Sendable {
        /// Between sequences.
        case ground
        /// After `ESC`.
        case escape
        /// After `ESC` and an intermediate byte (`ESC ( B`): the next final byte ends it.
        case escapeIntermediate
        /// Inside `ESC [ ...` until its final byte.
        case controlSequence
        /// Inside a DCS, OSC, APC, PM or SOS string until `ESC \` (or BEL).
        case string(isApplicationProgramCommand: Bool)
        /// After `ESC` inside a string: `\` ends it, anything else starts a new sequence.
        case stringEscape(isApplicationProgramCommand: Bool)
    }

    /// The longest control sequence kept; longer ones are skipped (ours are under 50 bytes).
    private static let maxControlSequenceLength = 64
    /// The longest APC string kept; the rest of a longer one is dropped.
    private static let maxStringLength = 512

    private var state = State.ground
    /// The parameter and intermediate bytes of the current control sequence, or the text of
    /// the current APC string.
    private var buffer: [UInt8] = []
    /// The current control sequence outgrew `maxControlSequenceLength`.
    private var overflowed = false

    /// A parser that has seen nothing yet.
    public init() {}

    /// Parses `bytes` all at once.
    public static func parse(_ bytes: some Sequence<UInt8>) -> TerminalReplies {
        var parser = TerminalReplyParser()
        parser.consume(bytes)
        return parser.replies
    }

    /// Feeds the next bytes read from the terminal; `replies` grows as sequences complete.
    public mutating func consume(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            consume(byte)
        }
    }

    private mutating func consume(_ byte: UInt8) {
        switch state {
        case .ground:
            if byte == Byte.escape { state = .escape }

        case .escape:
            escape(byte)

        case .escapeIntermediate:
            switch byte {
            case Byte.escape: state = .escape
            case 0x20...0x2F: break
            case 0x00...0x1F where !Byte.cancels(byte): break
            default: state = .ground
            }

        case .controlSequence:
            switch byte {
            case 0x20...0x3F:
                if buffer.count < Self.maxControlSequenceLength {
                    buffer.append(byte)
                } else {
                    overflowed = true
                }
            case 0x40...0x7E:
                if !overflowed { controlSequence(final: byte) }
                state = .ground
            case Byte.escape:
                state = .escape
            case 0x00...0x1F where !Byte.cancels(byte):
                break  // C0 controls inside a sequence are executed by a terminal; we skip them
            case 0x7F:
                break
            default:
                state = .ground
            }

        case .string(let isAPC):
            switch byte {
            case Byte.escape:
                state = .stringEscape(isApplicationProgramCommand: isAPC)
            case Byte.bell:
                endString(isAPC)
            case _ where Byte.cancels(byte):
                state = .ground
            default:
                if isAPC && buffer.count < Self.maxStringLength { buffer.append(byte) }
            }

        case .stringEscape(let isAPC):
            if byte == Byte.backslash {
                endString(isAPC)
            } else {
                escape(byte)  // the string was cut short; this ESC starts something new
            }
        }
    }

    /// The byte after an `ESC`.
    private mutating func escape(_ byte: UInt8) {
        buffer.removeAll(keepingCapacity: true)
        overflowed = false
        switch byte {
        case Byte.leftBracket: state = .controlSequence
        case Byte.underscore: state = .string(isApplicationProgramCommand: true)
        case Byte.capitalP, Byte.rightBracket, Byte.caret, Byte.capitalX:
            state = .string(isApplicationProgramCommand: false)
        case Byte.escape: state = .escape
        case 0x20...0x2F: state = .escapeIntermediate
        case 0x00...0x1F where !Byte.cancels(byte): state = .escape
        default: state = .ground
        }
    }

    private mutating func endString(_ isAPC: Bool) {
        if isAPC { applicationProgramCommand(buffer) }
        state = .ground
    }

    // MARK: Replies

    /// A complete `CSI [marker] params [intermediates] final`; `buffer` holds what is between.
    private mutating func controlSequence(final: UInt8) {
        var body = buffer[...]
        var marker: UInt8?
        if let first = body.first, (0x3C...0x3F).contains(first) {
            marker = first
            body = body.dropFirst()
        }
        // DECRPM, the one reply we know with an intermediate: CSI ? mode ; value $ y
        if marker == Byte.question, final == UInt8(ascii: "y"), body.last == UInt8(ascii: "$") {
            let values = Self.parameters(body.dropLast())
            if values.count == 2, values[0] == 80, let value = values[1], (1...4).contains(value) {
                replies.sixelDisplayMode = value == 1 || value == 3
            }
            return
        }
        // No other reply we know has intermediates or sub-parameters.
        guard body.allSatisfy({ (0x30...0x39).contains($0) || $0 == Byte.semicolon }) else { return }
        let parameters = Self.parameters(body)

        switch (marker, final) {
        case (Byte.question, Byte.lowercaseC):
            // DA1: CSI ? class ; attributes... c
            replies.deviceAttributes = parameters.compactMap { $0 }

        case (Byte.question, Byte.capitalS):
            // XTSMGRAPHICS: CSI ? item ; status ; value S, item 1 = colour registers
            guard parameters.count >= 2, parameters[0] == 1 else { return }
            let status = parameters[1] ?? 0
            if status != 0 {
                replies.colorRegisters = .failed(status: status)
            } else if parameters.count >= 3, let count = parameters[2] {
                replies.colorRegisters = .count(count)
            }

        case (nil, Byte.lowercaseT):
            // XTWINOPS reports: CSI 6 ; height ; width t (cell), CSI 4 ; height ; width t (text area)
            guard parameters.count == 3,
                  let height = parameters[1], let width = parameters[2], height > 0, width > 0
            else { return }
            switch parameters[0] {
            case 6: replies.cellPixelSize = PixelSize(width: width, height: height)
            case 4: replies.windowPixelSize = PixelSize(width: width, height: height)
            default: break
            }

        default:
            break
        }
    }

    /// A complete `ESC _ text ESC \`; kitty graphics replies read `G key=value,... ; message`.
    private mutating func applicationProgramCommand(_ text: [UInt8]) {
        guard text.first == Byte.capitalG,
              let separator = text.firstIndex(of: Byte.semicolon)
        else { return }
        let control = String(decoding: text[1..<separator], as: UTF8.self)
        let message = String(decoding: text[(separator + 1)...], as: UTF8.self)
        let keys = control.split(separator: ",")
        guard keys.contains("i=\(EscapeSequence.kittyQueryImageID)") else { return }
        replies.kittyGraphics = message == "OK" ? .ok : .error(message)
    }

    /// `;`-separated decimal parameters; an empty one (or one too long to be real, or one with
    /// other bytes than digits: DECRPM's body may hold any parameter or intermediate byte) is nil.
    private static func parameters(_ body: ArraySlice<UInt8>) -> [Int?] {
        body.split(separator: Byte.semicolon, omittingEmptySubsequences: false).map { digits in
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
    }
}

/// The bytes the parser looks for, by name.
private enum Byte {
    static let bell: UInt8 = 0x07
    static let escape: UInt8 = EscapeSequence.escape
    static let cancel: UInt8 = 0x18
    static let substitute: UInt8 = 0x1A
    static let semicolon = UInt8(ascii: ";")
    static let question = UInt8(ascii: "?")
    static let leftBracket = UInt8(ascii: "[")
    static let rightBracket = UInt8(ascii: "]")
    static let backslash = UInt8(ascii: "\\")
    static let underscore = UInt8(ascii: "_")
    static let caret = UInt8(ascii: "^")
    static let capitalP = UInt8(ascii: "P")
    static let capitalX = UInt8(ascii: "X")
    static let capitalG = UInt8(ascii: "G")
    static let capitalS = UInt8(ascii: "S")
    static let lowercaseC = UInt8(ascii: "c")
    static let lowercaseT = UInt8(ascii: "t")

    /// CAN and SUB abort any sequence in progress.
    static func cancels(_ byte: UInt8) -> Bool { byte == cancel || byte == substitute }
}
