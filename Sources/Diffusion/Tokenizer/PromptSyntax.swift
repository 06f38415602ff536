/// Prompt emphasis as AUTOMATIC1111's web UI reads it (its `parse_prompt_attention`):
///
///     (text)        text's tokens weighted x1.1        ((text)) x1.21, nesting multiplies
///     [text]        weighted / 1.1 (times 1 / 1.1)
///     (text:1.3)    weighted x1.3 (any number `[+-]?[.0-9]+`, spaces allowed around it)
///     \( \) \[ \] \\   the characters themselves
///     BREAK         (the upper-case word) the next text starts a new 75-token chunk
///
/// Everything else is text; `:` outside `(text:number)` is text. Quirks kept from A1111, because
/// its users' prompts depend on them:
/// - a bracket never closed applies to everything after it (`(unbalanced` is x1.1);
/// - a `)` or `]` with nothing open, and `:1.3)` with no `(` open, are ordinary text;
/// - round and square brackets are counted separately: `)` closes the last `(` even inside `[...]`;
/// - a `\` before any other character is dropped;
/// - adjacent texts of exactly equal weight are joined before tokenizing, so
///   `(unnecessary)(parens)` is the one word `unnecessaryparens` at x1.1;
/// - weights multiply in double precision in the order brackets close, as Python does
///   (`(((house:1.3))` is 1.3 x 1.1 x 1.1 = 1.5730000000000004).
///
/// One deliberate difference: A1111 marks BREAK with a weight of -1, which brackets around it
/// multiply, and then no longer recognises it (it encodes the word "break" with a weight of -1.1
/// for `(a BREAK b)`). Here BREAK breaks wherever it stands and brackets weight only text.
public enum PromptSyntax {
    /// One piece of a parsed prompt.
    public enum Piece: Equatable, Sendable {
        /// Text whose tokens get `weight` (1 = no emphasis).
        case text(String, weight: Double)
        /// `BREAK`: the text after it starts a new chunk.
        case chunkBreak
    }

    /// Multiplier of `(text)`.
    public static let roundMultiplier = 1.1
    /// Multiplier of `[text]` (A1111 multiplies by 1 / 1.1 rather than dividing by 1.1).
    public static let squareMultiplier = 1 / 1.1

    /// The pieces of `prompt`: never empty (an empty prompt is one empty text of weight 1).
    /// Throws when a `(text:number)` weight is not a number (`(a:1.2.3)`), where A1111 fails too.
    public static func parse(_ prompt: String) throws(PromptSyntaxError) -> [Piece] {
        let scalars = Array(prompt.unicodeScalars)
        var pieces: [Piece] = []
        var round: [Int] = []   // where each open `(` starts in `pieces`
        var square: [Int] = []  // where each open `[` starts

        func multiply(from start: Int, by multiplier: Double) {
            for i in start..<pieces.count {
                if case .text(let text, let weight) = pieces[i] { pieces[i] = .text(text, weight: weight * multiplier) }
            }
        }
        func appendText(_ scalars: ArraySlice<Unicode.Scalar>) {
            pieces += splitAtBreaks(scalars)
        }

        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            switch c {
            case "\\":
                if i + 1 < scalars.count, "()[]\\".unicodeScalars.contains(scalars[i + 1]) {
                    pieces.append(.text(String(scalars[i + 1]), weight: 1))
                    i += 2
                } else {
                    pieces.append(.text("", weight: 1))
                    i += 1
                }
            case "(":
                round.append(pieces.count)
                i += 1
            case "[":
                square.append(pieces.count)
                i += 1
            case ":":
                if let (number, end) = weightedClose(scalars, at: i) {
                    if let start = round.popLast() {
                        guard let weight = Double(number) else {
                            throw PromptSyntaxError(weight: String(String.UnicodeScalarView(scalars[i..<end])))
                        }
                        multiply(from: start, by: weight)
                    } else {
                        appendText(scalars[i..<end])
                    }
                    i = end
                } else {
                    pieces.append(.text(":", weight: 1))
                    i += 1
                }
            case ")":
                if let start = round.popLast() { multiply(from: start, by: roundMultiplier) } else { appendText(scalars[i...i]) }
                i += 1
            case "]":
                if let start = square.popLast() { multiply(from: start, by: squareMultiplier) } else { appendText(scalars[i...i]) }
                i += 1
            default:
                var end = i + 1
                while end < scalars.count, !"\\()[]:".unicodeScalars.contains(scalars[end]) { end += 1 }
                appendText(scalars[i..<end])
                i = end
            }
        }
        for start in round { multiply(from: start, by: roundMultiplier) }
        for start in square { multiply(from: start, by: squareMultiplier) }
        if pieces.isEmpty { return [.text("", weight: 1)] }
        return joiningEqualWeights(pieces)
    }

    /// `:` `\s*` `[+-]?[.\d]+` `\s*` `)` at `i`: the number (digits as ASCII) and the end of the match.
    static func weightedClose(_ scalars: [Unicode.Scalar], at i: Int) -> (number: String, end: Int)? {
        var j = i + 1
        while j < scalars.count, isSpace(scalars[j]) { j += 1 }
        var number = ""
        if j < scalars.count, scalars[j] == "+" || scalars[j] == "-" {
            number.unicodeScalars.append(scalars[j])
            j += 1
        }
        let digitsStart = j
        while j < scalars.count {
            if scalars[j] == "." {
                number += "."
            } else if scalars[j].properties.numericType == .decimal, let digit = scalars[j].properties.numericValue {
                number += String(Int(digit))  // Python's \d and float() take any decimal digit
            } else {
                break
            }
            j += 1
        }
        guard j > digitsStart else { return nil }
        while j < scalars.count, isSpace(scalars[j]) { j += 1 }
        guard j < scalars.count, scalars[j] == ")" else { return nil }
        return (number, j + 1)
    }

    /// Text cut at each `BREAK` standing as a word (A1111's `\s*\bBREAK\b\s*`), the whitespace
    /// around it dropped: text, break, text, ... (the texts possibly empty).
    static func splitAtBreaks(_ scalars: ArraySlice<Unicode.Scalar>) -> [Piece] {
        let keyword = Array("BREAK".unicodeScalars)
        var pieces: [Piece] = []
        var partStart = scalars.startIndex
        var i = scalars.startIndex
        while i + keyword.count <= scalars.endIndex {
            let before = i > scalars.startIndex && isWordCharacter(scalars[i - 1])
            let after = i + keyword.count < scalars.endIndex && isWordCharacter(scalars[i + keyword.count])
            guard !before, !after, scalars[i..<(i + keyword.count)].elementsEqual(keyword) else {
                i += 1
                continue
            }
            var partEnd = i
            while partEnd > partStart, isSpace(scalars[partEnd - 1]) { partEnd -= 1 }
            pieces.append(.text(String(String.UnicodeScalarView(scalars[partStart..<partEnd])), weight: 1))
            pieces.append(.chunkBreak)
            i += keyword.count
            while i < scalars.endIndex, isSpace(scalars[i]) { i += 1 }
            partStart = i
        }
        pieces.append(.text(String(String.UnicodeScalarView(scalars[partStart...])), weight: 1))
        return pieces
    }

    /// Adjacent texts of exactly equal weight joined into one.
    static func joiningEqualWeights(_ pieces: [Piece]) -> [Piece] {
        var joined: [Piece] = []
        for piece in pieces {
            if case .text(let text, let weight) = piece, case .text(let previous, let previousWeight)? = joined.last,
               previousWeight == weight {
                joined[joined.count - 1] = .text(previous + text, weight: weight)
            } else {
                joined.append(piece)
            }
        }
        return joined
    }

    /// Python's `\s` in a str pattern: Unicode whitespace and the ASCII separators 0x1C-0x1F.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }

    /// Python's `\w`: letters, numbers (`str.isalnum`) and `_`.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" || scalar.properties.numericType != nil { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
}

/// A prompt A1111's syntax cannot read: one line naming the weight that is not a number.
public struct PromptSyntaxError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The `:number)` written, e.g. `:1.2.3)`.
    public var weight: String

    public init(weight: String) {
        self.weight = weight
    }

    public var description: String {
        "prompt: the emphasis weight in \(weight.debugDescription) is not a number (write it like (text:1.2))"
    }
}
