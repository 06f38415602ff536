/// A prompt's text step by step, as AUTOMATIC1111 schedules it (`prompt_parser.py`'s
/// `get_learned_conditioning_prompt_schedules`):
///
///     [from:to:when]   `from` up to step `when`, then `to`      [to:when]  nothing, then `to`
///     [from::when]     `from`, then nothing                      when: a step number, or a
///                                                                fraction of the steps if < 1
///     [a|b|c]          a at step 1, b at 2, c at 3, a at 4, ...
///
/// The schedule is a list of (end at step, text): the text holds up to and including its step.
/// Which entry a sampling step uses is `text(atStep:)`'s business (A1111's convention, 0-based).
///
/// A1111 parses with a lark grammar; this is a parser of our own that gives the same schedules
/// (checked against A1111's parser on its doctests, its wiki's examples, an edge-case corpus and
/// 400 random prompts: Fixtures/prompts/schedules.json). What the grammar means, as lark reads it:
/// - Inside a construct, everything must parse: text (any character but `\ [ ] ( ) : |`, or `\`
///   and any character but a newline), `(p)`, `(p:p)`, `[p]`, edits and alternations. A construct
///   that does not parse is, at the top level, ordinary text bracket by bracket (`[a:b:c]` is
///   text), and its inner constructs still count (`[x:[a:2]]` edits `a`).
/// - `when` is `[+-]?` digits with an optional fraction and exponent (`2`, `.5`, `1.`, `1e3`),
///   after optional whitespace, directly followed by `]` (`[a:b:2 ]` is text).
/// - The prompt falls back to itself, unscheduled, when the grammar cannot read it at all: a `|`
///   outside any `[a|b]`, a `\` at the end or before a newline.
/// - `when` is float(number), times the steps when below 1, truncated toward zero, at most the
///   steps (so 0.29 of 100 steps is 28, `[a:b:0]` ends `a` at step 0 and `[a:b:-1]` at -steps).
/// - An alternation takes only the first piece of the chosen option: `[a (b)|c]` gives `a `,
///   `[(b) a|c]` `(b)`; options follow the step, nested ones too (`[a|[b|c]]` never shows `b`).
/// - Emphasis brackets and stray brackets stay in the text, for `PromptSyntax` to read later.
/// Where A1111 fails (an empty option reached, `[a|]` at step 2; a `when` past Double's range,
/// `1e999`) this throws, or, for the range, takes the step count.
///
/// A1111 itself is not always consistent: lark 1.1.2 (the version it pins) settles ambiguous
/// parses by hash order, which changes with the process, so a construct next to an unbalanced
/// bracket (`[a:b:2]]`) is edited in some A1111 runs and text in others. Here a construct is always
/// taken where one parses (the leftmost first), which is one of those outcomes.
public struct PromptSchedule: Equatable, Sendable {
    /// One text and the last step (A1111's `end_at_step`) it holds for.
    public struct Entry: Equatable, Sendable {
        public var endAtStep: Int
        public var text: String
        public init(endAtStep: Int, text: String) { (self.endAtStep, self.text) = (endAtStep, text) }
    }

    /// The entries, ascending by `endAtStep`; the last ends at the step count. Never empty.
    public var entries: [Entry]
    /// Why A1111's grammar does not read the prompt, when it does not (the prompt is then its own
    /// single entry); nil when it does.
    public var unparsedReason: String?

    /// The schedule of `prompt` over `steps` sampling steps (1 or more).
    public init(_ prompt: String, steps: Int) throws(PromptScheduleError) {
        guard steps >= 1 else { throw .steps(steps) }
        let scalars = Array(prompt.unicodeScalars)
        var parser = Parser(scalars: scalars)
        let nodes: [Node]
        do {
            nodes = try parser.parseTop()
        } catch {
            self.entries = [Entry(endAtStep: steps, text: prompt)]
            self.unparsedReason = error.description
            return
        }
        var ends: Set<Int> = [steps]
        Self.collectEnds(nodes, steps: steps, into: &ends)
        let sorted = ends.sorted()
        guard sorted.count * max(1, scalars.count) <= Self.maximumScheduleSize else {
            throw .tooLarge(entries: sorted.count, characters: scalars.count)
        }
        var entries: [Entry] = []
        for end in sorted {
            var text = String.UnicodeScalarView()
            try Self.render(nodes, step: end, steps: steps, into: &text)
            entries.append(Entry(endAtStep: end, text: String(text)))
        }
        self.entries = entries
        self.unparsedReason = nil
    }

    /// The text sampling step `step` uses (0-based: the number of denoiser calls before this one),
    /// A1111's `reconstruct_cond_batch`: the first entry whose `endAtStep` is at least `step`, else
    /// the first entry. With `[a:b:3]` over 10 steps, steps 0-3 (four calls) use `a`.
    public func index(atStep step: Int) -> Int {
        entries.firstIndex { step <= $0.endAtStep } ?? 0
    }

    /// The text of `index(atStep:)`.
    public func text(atStep step: Int) -> String { entries[index(atStep: step)].text }

    /// Whether the prompt is the same at every step (one entry).
    public var isConstant: Bool { entries.count == 1 }

    /// Characters times entries beyond which a schedule is refused (an alternation over 1,000
    /// steps of a 16,000-character prompt): each entry is a whole prompt.
    public static let maximumScheduleSize = 16_000_000
    /// Constructs nested deeper than this are not parsed: at the top level such a bracket is text,
    /// as an unclosed one is (the text is the same as lark's, emphasis keeping its brackets).
    public static let maximumDepth = 100

    // MARK: - Tree

    indirect enum Node: Sendable {
        case text(ArraySlice<Unicode.Scalar>)
        /// `(p)`, `(p:p)` or `[p]`: brackets and colon kept in the text.
        case emphasis(open: Unicode.Scalar, inner: [Node], weight: [Node]?, close: Unicode.Scalar)
        /// `[from:to:when]`, `from` nil for `[to:when]`.
        case edit(from: [Node]?, to: [Node], when: Double)
        case alternation([[Node]])
    }

    /// A1111's step for `when`: times the steps below 1, truncated, at most `steps`.
    static func endStep(_ when: Double, steps: Int) -> Int {
        let scaled = when < 1 ? when * Double(steps) : when
        guard scaled < Double(steps) else { return steps }
        return scaled > -1e15 ? Int(scaled.rounded(.towardZero)) : -1_000_000_000_000_000
    }

    static func collectEnds(_ nodes: [Node], steps: Int, into ends: inout Set<Int>) {
        for node in nodes {
            switch node {
            case .text: break
            case .emphasis(_, let inner, let weight, _):
                collectEnds(inner, steps: steps, into: &ends)
                if let weight { collectEnds(weight, steps: steps, into: &ends) }
            case .edit(let from, let to, let when):
                if let from { collectEnds(from, steps: steps, into: &ends) }
                collectEnds(to, steps: steps, into: &ends)
                ends.insert(endStep(when, steps: steps))
            case .alternation(let options):
                ends.formUnion(1...steps)
                for option in options { collectEnds(option, steps: steps, into: &ends) }
            }
        }
    }

    static func render(_ nodes: [Node], step: Int, steps: Int,
                       into text: inout String.UnicodeScalarView) throws(PromptScheduleError) {
        for node in nodes {
            switch node {
            case .text(let scalars):
                text.append(contentsOf: scalars)
            case .emphasis(let open, let inner, let weight, let close):
                text.append(open)
                try render(inner, step: step, steps: steps, into: &text)
                if let weight {
                    text.append(":")
                    try render(weight, step: step, steps: steps, into: &text)
                }
                text.append(close)
            case .edit(let from, let to, let when):
                if step <= endStep(when, steps: steps) {
                    if let from { try render(from, step: step, steps: steps, into: &text) }
                } else {
                    try render(to, step: step, steps: steps, into: &text)
                }
            case .alternation(let options):
                // A1111 takes the chosen option's first piece (a `next()` on its pieces).
                let option = options[((step - 1) % options.count + options.count) % options.count]
                guard let first = option.first else { throw .emptyAlternative(step: step) }
                try render([first], step: step, steps: steps, into: &text)
            }
        }
    }

    // MARK: - Parser

    /// Why the grammar does not read a prompt (one line; the prompt is then used as it is), or,
    /// inside a construct, that it nests too deep.
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    struct Parser {
        let scalars: [Unicode.Scalar]
        /// The construct parsed at each position (nil inside: it does not parse); a construct
        /// parses the same wherever it stands, so each position is tried once.
        var constructs: [Int: (node: Node, end: Int)?] = [:]

        /// For each `[` or `(`, whether a bracket of either kind closes it (brackets counted
        /// together, escaped ones skipped): a construct can only end at that closer, since every
        /// bracket inside it must open or close a construct. Saves walking unclosed brackets.
        let isClosed: [Bool]

        init(scalars: [Unicode.Scalar]) {
            self.scalars = scalars
            var closed = [Bool](repeating: false, count: scalars.count)
            var open: [Int] = []
            var i = 0
            while i < scalars.count {
                switch scalars[i] {
                case "\\" where i + 1 < scalars.count && scalars[i + 1] != "\n": i += 1
                case "[", "(": open.append(i)
                case "]", ")": if let opener = open.popLast() { closed[opener] = true }
                default: break
                }
                i += 1
            }
            isClosed = closed
        }

        static let special: Set<Unicode.Scalar> = ["\\", "[", "]", "(", ")", ":", "|"]

        /// The end of the run of text from `start` (plain characters and escapes), `start` when none.
        func textEnd(from start: Int) -> Int {
            var i = start
            while i < scalars.count {
                let c = scalars[i]
                if c == "\\" {
                    guard i + 1 < scalars.count, scalars[i + 1] != "\n" else { return i }
                    i += 2
                } else if Self.special.contains(c) {
                    return i
                } else {
                    i += 1
                }
            }
            return i
        }

        /// The whole prompt: text, constructs and, where no construct parses, brackets as text.
        mutating func parseTop() throws(Unreadable) -> [Node] {
            var nodes: [Node] = []
            var i = 0
            while i < scalars.count {
                let c = scalars[i]
                if c == "[" || c == "(" {
                    // Nesting past the limit: this bracket is text (constructs inside it are still
                    // found from their own positions; emphasis renders as its text either way).
                    if let (node, end) = try? construct(at: i, depth: 1) {
                        nodes.append(node)
                        i = end
                        continue
                    }
                    nodes.append(.text(scalars[i..<(i + 1)]))
                    i += 1
                } else if c == "]" || c == ")" || c == ":" {
                    nodes.append(.text(scalars[i..<(i + 1)]))
                    i += 1
                } else if c == "|" {
                    throw Unreadable(description: "a '|' at character \(i + 1) is outside any [a|b] alternation")
                } else {
                    let end = textEnd(from: i)
                    guard end > i else { throw Unreadable(description: "a '\\' at character \(i + 1) escapes nothing") }
                    nodes.append(.text(scalars[i..<end]))
                    i = end
                }
            }
            return nodes
        }

        /// The pieces of a prompt inside a construct from `start`, up to the first `] ) : |` at
        /// this level (or the end): nil when a bracket in it opens no construct that parses.
        mutating func prompt(from start: Int, depth: Int) throws(Unreadable) -> (nodes: [Node], end: Int)? {
            var nodes: [Node] = []
            var i = start
            while i < scalars.count {
                let c = scalars[i]
                if c == "[" || c == "(" {
                    guard let (node, end) = try construct(at: i, depth: depth + 1) else { return nil }
                    nodes.append(node)
                    i = end
                } else if c == "]" || c == ")" || c == ":" || c == "|" {
                    break
                } else {
                    let end = textEnd(from: i)
                    guard end > i else { return nil }
                    nodes.append(.text(scalars[i..<end]))
                    i = end
                }
            }
            return (nodes, i)
        }

        /// The construct opening at `start` (`[` or `(`) and the position after it, nil when none parses.
        mutating func construct(at start: Int, depth: Int) throws(Unreadable) -> (node: Node, end: Int)? {
            guard isClosed[start] else { return nil }
            if let known = constructs[start] { return known }
            guard depth <= PromptSchedule.maximumDepth else {
                throw Unreadable(description: "brackets nest more than \(PromptSchedule.maximumDepth) deep")
            }
            let result = try parseConstruct(at: start, depth: depth)
            constructs[start] = .some(result)
            return result
        }

        mutating func parseConstruct(at start: Int, depth: Int) throws(Unreadable) -> (node: Node, end: Int)? {
            let open = scalars[start]
            guard let (first, afterFirst) = try prompt(from: start + 1, depth: depth), afterFirst < scalars.count else { return nil }
            let next = scalars[afterFirst]
            if open == "(" {
                if next == ")" { return (.emphasis(open: "(", inner: first, weight: nil, close: ")"), afterFirst + 1) }
                guard next == ":", let (weight, end) = try prompt(from: afterFirst + 1, depth: depth),
                      end < scalars.count, scalars[end] == ")" else { return nil }
                return (.emphasis(open: "(", inner: first, weight: weight, close: ")"), end + 1)
            }
            switch next {
            case "]":
                return (.emphasis(open: "[", inner: first, weight: nil, close: "]"), afterFirst + 1)
            case "|":
                var options = [first]
                var i = afterFirst
                while i < scalars.count, scalars[i] == "|" {
                    guard let (option, end) = try prompt(from: i + 1, depth: depth) else { return nil }
                    options.append(option)
                    i = end
                }
                guard i < scalars.count, scalars[i] == "]" else { return nil }
                return (.alternation(options), i + 1)
            case ":":
                if let (when, end) = when(from: afterFirst + 1) {
                    return (.edit(from: nil, to: first, when: when), end)
                }
                guard let (second, afterSecond) = try prompt(from: afterFirst + 1, depth: depth),
                      afterSecond < scalars.count, scalars[afterSecond] == ":",
                      let (when, end) = when(from: afterSecond + 1) else { return nil }
                return (.edit(from: first, to: second, when: when), end)
            default:
                return nil
            }
        }

        /// `[whitespace] number ]` from `start`: the number and the position after `]`.
        func when(from start: Int) -> (Double, Int)? {
            var i = start
            while i < scalars.count, PromptSchedule.isPythonSpace(scalars[i]) { i += 1 }
            guard let (number, end) = PromptSchedule.signedNumber(scalars, from: i), end < scalars.count,
                  scalars[end] == "]" else { return nil }
            return (number, end + 1)
        }
    }

    /// lark's SIGNED_NUMBER at `start` (`[+-]?` then digits with an optional `.` and digits, or
    /// `.` and digits, then an optional exponent), the longest that matches; ASCII digits only.
    static func signedNumber(_ scalars: [Unicode.Scalar], from start: Int) -> (Double, Int)? {
        func digits(from i: Int) -> Int {
            var j = i
            while j < scalars.count, scalars[j].isASCII, ("0"..."9").contains(scalars[j]) { j += 1 }
            return j
        }
        var i = start
        if i < scalars.count, scalars[i] == "+" || scalars[i] == "-" { i += 1 }
        let integerEnd = digits(from: i)
        var end = integerEnd
        if end < scalars.count, scalars[end] == "." {
            let fractionEnd = digits(from: end + 1)
            if integerEnd > i || fractionEnd > end + 1 { end = fractionEnd }
        }
        guard end > i, end - i > 1 || scalars[i] != "." else { return nil }
        if end < scalars.count, scalars[end] == "e" || scalars[end] == "E" {
            var e = end + 1
            if e < scalars.count, scalars[e] == "+" || scalars[e] == "-" { e += 1 }
            let exponentEnd = digits(from: e)
            if exponentEnd > e { end = exponentEnd }
        }
        var text = String(String.UnicodeScalarView(scalars[start..<end]))
        if text.hasPrefix("+") { text.removeFirst() }
        guard let value = Double(text) else { return nil }
        return (value, end)
    }

    /// Python's `str.isspace` (and `\s` in its regular expressions): Unicode White_Space plus the
    /// information separators U+001C-U+001F.
    static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }
}

/// Why a prompt has no schedule: one line.
public enum PromptScheduleError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An alternation's option reached at `step` is empty (`[a|]`); A1111 fails on it too.
    case emptyAlternative(step: Int)
    /// The schedule would hold too many characters (entries x prompt length).
    case tooLarge(entries: Int, characters: Int)
    /// Fewer than one step.
    case steps(Int)
    /// An AND part's weight is not a finite number.
    case weight(String)

    public var description: String {
        switch self {
        case .emptyAlternative(let step):
            "prompt: an alternation [a|b] has an empty option, reached at step \(step) (write [a|b], every option with text)"
        case .tooLarge(let entries, let characters):
            "prompt: its schedule would be \(entries) versions of a \(characters)-character prompt, too large; shorten the prompt or the steps"
        case .steps(let steps):
            "prompt schedule: steps must be 1 or more, not \(steps)"
        case .weight(let text):
            "prompt: the AND weight \(text.debugDescription) is not a finite number"
        }
    }
}
