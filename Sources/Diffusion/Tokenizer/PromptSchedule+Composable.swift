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

    /// A1111's `^(\s*.*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$` on one part, in linear time:
    /// the shortest text (after any leading whitespace, never across a line break) after which
    /// either `\s*:\s*number` and whitespace, or whitespace alone, reach the end; the weighted
    /// reading is tried first at each length.
    static func part(_ slice: ArraySlice<Unicode.Scalar>) throws(PromptScheduleError) -> Part {
        let scalars = Array(slice)
        let whole = Part(text: String(String.UnicodeScalarView(scalars)), weight: 1)
        let space = PromptSchedule.isPythonSpace
        let count = scalars.count
        // Trailing whitespace (a final line break included) is outside the text whatever precedes it.
        var tail = count
        while tail > 0, space(scalars[tail - 1]) { tail -= 1 }
        // The maximal run of number characters ending at `tail`: a weight can only lie in it.
        var runStart = tail
        while runStart > 0, isNumberCharacter(scalars[runStart - 1]) { runStart -= 1 }
        // nextNonSpace[i]: the first index at or after i that is not whitespace.
        var nextNonSpace = [Int](repeating: count, count: count + 1)
        for i in stride(from: count - 1, through: 0, by: -1) { nextNonSpace[i] = space(scalars[i]) ? nextNonSpace[i + 1] : i }
        var textStart = 0
        while textStart < count, space(scalars[textStart]) { textStart += 1 }
        var checked: [Int: [Unicode.Scalar]?] = [:]  // by the colon's index
        var p = textStart
        while true {
            let colon = nextNonSpace[p]
            if colon < tail, scalars[colon] == ":" {
                let number = nextNonSpace[colon + 1]
                if number >= runStart, number < tail {
                    let weight = checked[colon] ?? validNumber(Array(scalars[number..<tail]))
                    checked[colon] = .some(weight)
                    if let weight {
                        return Part(text: String(String.UnicodeScalarView(scalars[0..<p])), weight: try value(of: weight))
                    }
                }
            }
            if p >= tail { return Part(text: String(String.UnicodeScalarView(scalars[0..<p])), weight: 1) }
            if scalars[p] == "\n" { return whole }
            p += 1
        }
    }

    /// A digit (any script's decimal digit, as Python's `\d`), `.`, `+` or `-`.
    static func isNumberCharacter(_ c: Unicode.Scalar) -> Bool {
        c.properties.numericType == .decimal || c == "." || c == "+" || c == "-"
    }

    /// `number` when it is all of `[-+]?(\d+\.?|\d*\.\d+)`, else nil.
    static func validNumber(_ number: [Unicode.Scalar]) -> [Unicode.Scalar]? {
        var digits = number[...]
        if let sign = digits.first, sign == "+" || sign == "-" { digits = digits.dropFirst() }
        let isDigit = { (c: Unicode.Scalar) in c.properties.numericType == .decimal }
        guard !digits.isEmpty, digits.allSatisfy({ isDigit($0) || $0 == "." }) else { return nil }
        let dots = digits.filter { $0 == "." }.count
        guard dots == 0 || (dots == 1 && digits.count > 1) else { return nil }
        return number
    }

    /// The value of a weight `validNumber` accepted, its digits read in any script, as Python's float().
    static func value(of number: [Unicode.Scalar]) throws(PromptScheduleError) -> Double {
        let ascii = String(String.UnicodeScalarView(number.map { c in
            guard c.properties.numericType == .decimal, let digit = c.properties.numericValue, (0...9).contains(digit) else { return c }
            return Unicode.Scalar(UInt8(48 + Int(digit)))
        }))
        guard let weight = Double(ascii.hasPrefix("+") ? String(ascii.dropFirst()) : ascii), weight.isFinite else {
            throw .weight(ascii)
        }
        return weight
    }
}
