import Foundation

/// A `<lora:NAME:WEIGHT>` tag in a prompt (A1111's extra-network syntax; `<lyco:…>` and any case of
/// the type too, as the engine reads them) as the editors insert and change it: the LoRA list's
/// Enter writes one at the cursor, Alt-= / Alt-- change the weight of the one the cursor is on by
/// rewriting that number in its text (as A1111's Ctrl-Up/Down change an emphasis weight).
public struct LoraTag: Equatable, Sendable {
    /// The tag's characters in the editor, `<` through `>`.
    public var range: Range<Int>
    /// The name, without the spaces the tag's reader drops.
    public var name: String
    /// nil when the tag has no weight (`<lora:NAME>`, which runs at 1).
    public var weight: Double?
    /// The weight's characters (spaces around it included); nil when it has none.
    public var weightRange: Range<Int>?

    /// The step of Alt-= / Alt--.
    public static let weightStep = 0.1

    /// Why the cursor's tag was left as it is.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        /// The cursor is on no `<...>` tag.
        case noTag
        /// A tag of another kind (`<hypernet:...>`).
        case notLoRA(String)
        /// A LoRA tag whose name or weight cannot be read.
        case malformed(String)
        /// A1111's `<lora:NAME:TE:UNET>` or named (`te=`, `unet=`) weights.
        case severalWeights(String)

        public var description: String {
            switch self {
            case .noTag: "put the cursor on a <lora:NAME:WEIGHT> tag to change its weight (F7: the LoRA list)"
            case .notLoRA(let tag): "\(tag) is not a <lora:...> tag"
            case .malformed(let tag): "\(tag): no name and weight to read, left as it is"
            case .severalWeights(let tag): "\(tag) has more than one weight or named ones: change them by typing"
            }
        }
    }

    /// The tag's text for `name` and `weight`: `<lora:NAME:0.8>`.
    public static func text(name: String, weight: Double) -> String {
        "<lora:\(name):\(format(weight))>"
    }

    /// A weight as a tag holds it: at most two decimals, no trailing zeros, `0` not `-0`.
    public static func format(_ weight: Double) -> String {
        var text = String(format: "%.2f", weight)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text == "-0" ? "0" : text
    }

    /// The LoRA tag the cursor is on in `characters`: the `<...>` (on one line, no `<` or `>`
    /// inside) that holds the cursor or starts at it, else the one just before it.
    public static func at(_ cursor: Int, in characters: [Character]) -> Result<LoraTag, Problem> {
        let spans = tagSpans(in: characters)
        guard let range = spans.first(where: { $0.contains(cursor) }) ?? spans.first(where: { $0.upperBound == cursor }) else {
            return .failure(.noTag)
        }
        let text = String(characters[range])
        // The parts between `<`, the colons and `>`, as ranges of `characters`.
        var parts: [Range<Int>] = []
        var start = range.lowerBound + 1
        for index in start..<range.upperBound where characters[index] == ":" || index == range.upperBound - 1 {
            parts.append(start..<index)
            start = index + 1
        }
        let type = String(characters[parts[0]]).lowercased()
        guard parts.count > 1, type == "lora" || type == "lyco" else { return .failure(.notLoRA(text)) }
        let name = String(characters[parts[1]]).trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { return .failure(.malformed(text)) }
        guard parts.count <= 3, !characters[parts.last!].contains("=") else { return .failure(.severalWeights(text)) }
        guard parts.count == 3 else { return .success(LoraTag(range: range, name: name, weight: nil, weightRange: nil)) }
        guard let weight = Double(String(characters[parts[2]]).trimmingCharacters(in: .whitespaces)), weight.isFinite else {
            return .failure(.malformed(text))
        }
        return .success(LoraTag(range: range, name: name, weight: weight, weightRange: parts[2]))
    }

    /// Every `<...>` on one line without `<` or `>` inside, in order.
    static func tagSpans(in characters: [Character]) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        var open: Int?
        for (index, character) in characters.enumerated() {
            switch character {
            case "<": open = index
            case ">":
                if let start = open { spans.append(start..<(index + 1)) }
                open = nil
            case "\n": open = nil
            default: break
            }
        }
        return spans
    }
}

extension TextEditor {
    /// Inserts `<lora:NAME:WEIGHT>` at the cursor, a space from the words around it; the cursor
    /// ends just after its `>` (where Alt-= / Alt-- find it).
    public mutating func insertLoraTag(name: String, weight: Double = 1) {
        let before = cursor > 0 ? characters[cursor - 1] : nil
        let after = cursor < characters.count ? characters[cursor] : nil
        let lead = before.map { !$0.isWhitespace && !"([".contains($0) } ?? false
        let trail = after.map { !$0.isWhitespace && !",)]".contains($0) } ?? false
        let tag = LoraTag.text(name: name, weight: weight)
        let text = (lead ? " " : "") + tag + (trail ? " " : "")
        replace(cursor..<cursor, with: text, cursor: cursor + (lead ? 1 : 0) + tag.count)
    }

    /// Changes the weight of the LoRA tag at the cursor by `delta` (a tag without one starts from
    /// 1), rewriting that number (or adding `:WEIGHT`); the rest of the tag and the cursor's place
    /// in it stay. Returns the tag as it is now, or why it was left alone.
    @discardableResult
    public mutating func adjustLoraWeight(by delta: Double) -> Result<LoraTag, LoraTag.Problem> {
        switch LoraTag.at(cursor, in: characters) {
        case .failure(let problem):
            return .failure(problem)
        case .success(var tag):
            let weight = (((tag.weight ?? 1) + delta) * 100).rounded() / 100
            let number = LoraTag.format(weight)
            // The weight's characters, or the place before `>` where `:WEIGHT` goes.
            let old = tag.weightRange ?? (tag.range.upperBound - 1)..<(tag.range.upperBound - 1)
            let text = (tag.weightRange == nil ? ":" : "") + number
            let shift = text.count - old.count
            let place = cursor <= old.lowerBound ? cursor : cursor >= old.upperBound ? cursor + shift : min(cursor, old.lowerBound + text.count)
            replace(old, with: text, cursor: place)
            let numberStart = old.lowerBound + text.count - number.count
            (tag.range, tag.weight, tag.weightRange)
                = (tag.range.lowerBound..<(tag.range.upperBound + shift), weight, numberStart..<(old.lowerBound + text.count))
            return .success(tag)
        }
    }
}
