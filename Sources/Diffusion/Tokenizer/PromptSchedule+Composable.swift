/// A prompt cut at `AND` into weighted parts, as AUTOMATIC1111's composable diffusion reads it
/// (`get_multicond_prompt_list`): `a cat AND a dog:0.5` is `a cat` (weight 1) and ` a dog` (0.5).
///
/// - `AND` is the upper-case word standing alone (`\bAND\b` in Python: `ANDa` and `_AND` are
///   text), wherever it is, inside brackets too (`[a AND b:c:2]` is the parts `[a ` and ` b:c:2]`,
///   each scheduled on its own);
/// - a part ending in `:number` (`[-+]?` digits with an optional fraction, spaces allowed around
///   the colon and after the number; no exponent) takes that weight, else 1; the part's text is
///   what comes before, trailing whitespace dropped (leading kept);
/// - a part with a line break inside it keeps its text and any `:number` whole, weight 1 (Python's
///   `.` stops at a line break).
/// Each part's text is then scheduled (`PromptSchedule`); the guided output is the unconditional
/// one plus, for each part, weight x CFG x (part's output - unconditional).
public struct ComposablePrompt: Equatable, Sendable {
    /// One part: its text and its weight.
    public struct Part: Equatable, Sendable {
        public var text: String
        public var weight: Double
        public init(text: String, weight: Double) { (self.text, self.weight) = (text, weight) }
    }

    /// The parts in order (at least one; equal texts are not merged here).
    public var parts: [Part]

    public init(_ prompt: String) throws(PromptScheduleError) {
        parts = try Self.split(Array(prompt.unicodeScalars)).map { (scalars) throws(PromptScheduleError) in try Self.part(scalars) }
    }

    /// Whether this is one part of weight 1: the prompt runs exactly as a prompt without AND.
    public var isSingle: Bool { parts.count == 1 && parts[0].weight == 1 }

    /// Python's `\w`: letters, numbers and `_`.
    static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        if c == "_" || c.properties.numericType != nil { return true }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `prompt` split at each `AND` with a word boundary on both sides.
    static func split(_ scalars: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var parts: [ArraySlice<Unicode.Scalar>] = []
        var start = 0
        var i = 0
        while i + 3 <= scalars.count {
            if scalars[i] == "A", scalars[i + 1] == "N", scalars[i + 2] == "D",
               i == 0 || !isWordCharacter(scalars[i - 1]),
               i + 3 == scalars.count || !isWordCharacter(scalars[i + 3]) {
                parts.append(scalars[start..<i])
                start = i + 3
                i += 3
            } else {
                i += 1
            }
        }
        parts.append(scalars[start...])
        return parts
    }

    /// A1111's `^(\s*.*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$` on one part.
    static func part(_ scalars: ArraySlice<Unicode.Scalar>) throws(PromptScheduleError) -> Part {
        let whole = Part(text: String(String.UnicodeScalarView(scalars)), weight: 1)
        let space = PromptSchedule.isPythonSpace
        // `$` also matches before a final line break; `.` matches anything but a line break.
        var end = scalars.endIndex
        // Trailing whitespace (a final "\n" included) is outside the text whatever follows.
        var tail = end
        while tail > scalars.startIndex, space(scalars[tail - 1]) { tail -= 1 }
        // The text: leading whitespace, then no line break up to where the rest matches.
        var textStart = scalars.startIndex
        while textStart < end, space(scalars[textStart]) { textStart += 1 }
        // The shortest text wins; the weighted reading is tried first at each length. The
        // weighted reading needs `\s*:\s*number` ending at `tail`; the plain one needs `tail`.
        var weightText: [Unicode.Scalar]?
        var cut: Int?
        var p = textStart
        while true {
            if let w = weightAfter(scalars, from: p, to: tail) {
                (cut, weightText) = (p, w)
                break
            }
            if p >= tail { cut = p; break }
            if scalars[p] == "\n" { break }
            p += 1
        }
        guard let cut else { return whole }
        end = cut
        guard let weightText else {
            return Part(text: String(String.UnicodeScalarView(scalars[scalars.startIndex..<end])), weight: 1)
        }
        let ascii = String(String.UnicodeScalarView(weightText.map { c in
            guard c.properties.numericType == .decimal, let digit = c.properties.numericValue, (0...9).contains(digit) else { return c }
            return Unicode.Scalar(UInt8(48 + Int(digit)))
        }))
        guard let weight = Double(ascii.hasPrefix("+") ? String(ascii.dropFirst()) : ascii), weight.isFinite else {
            throw .weight(ascii)
        }
        return Part(text: String(String.UnicodeScalarView(scalars[scalars.startIndex..<end])), weight: weight)
    }

    /// The number of `\s*:\s*[-+]?(\d+\.?|\d*\.\d+)` spanning exactly `start..<end`, nil when it does not.
    static func weightAfter(_ scalars: ArraySlice<Unicode.Scalar>, from start: Int, to end: Int) -> [Unicode.Scalar]? {
        let space = PromptSchedule.isPythonSpace
        var i = start
        while i < end, space(scalars[i]) { i += 1 }
        guard i < end, scalars[i] == ":" else { return nil }
        i += 1
        while i < end, space(scalars[i]) { i += 1 }
        let number = Array(scalars[i..<end])
        var j = 0
        if j < number.count, number[j] == "+" || number[j] == "-" { j += 1 }
        let isDigit = { (c: Unicode.Scalar) in c.properties.numericType == .decimal }
        let digits = number[j...]
        guard !digits.isEmpty, digits.allSatisfy({ isDigit($0) || $0 == "." }) else { return nil }
        let dots = digits.filter { $0 == "." }.count
        guard dots <= 1 else { return nil }
        if dots == 1 {
            // `\d+\.` or `\d*\.\d+`: a dot with digits on at least one side.
            guard digits.count > 1 else { return nil }
        }
        return number
    }
}
