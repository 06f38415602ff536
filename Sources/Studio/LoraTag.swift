import Foundation

/// A `<lora:NAME:WEIGHT>` tag in a prompt (A1111's extra-network syntax) as the editors insert
/// and change it: the LoRA list's Enter writes one at the cursor, Alt-= / Alt-- change the
/// weight of the one the cursor is on by rewriting its text (as A1111's Ctrl-Up/Down change an
/// emphasis weight).
public struct LoraTag: Equatable, Sendable {
    /// The tag's characters in the editor, `<` through `>`.
    public var range: Range<Int>
    public var name: String
    /// nil when the tag has no weight (`<lora:NAME>`, which A1111 runs at 1).
    public var weight: Double?

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
        /// A1111's `<lora:NAME:TE:UNET>` (or named) weights: more than one number.
        case severalWeights(String)

        public var description: String {
            switch self {
            case .noTag: "put the cursor on a <lora:NAME:WEIGHT> tag to change its weight (F7: the LoRA list)"
            case .notLoRA(let tag): "\(tag) is not a <lora:...> tag"
            case .malformed(let tag): "\(tag): no name and weight to read, left as it is"
            case .severalWeights(let tag): "\(tag) has more than one weight: change them by typing"
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
        let inside = String(characters[(range.lowerBound + 1)..<(range.upperBound - 1)])
        guard inside.hasPrefix("lora:") else { return .failure(.notLoRA(text)) }
        let parts = inside.dropFirst(5).split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { return .failure(.malformed(text)) }
        switch parts.count {
        case 1:
            return .success(LoraTag(range: range, name: name, weight: nil))
        case 2:
            guard let weight = Double(parts[1].trimmingCharacters(in: .whitespaces)), weight.isFinite else {
                return .failure(.malformed(text))
            }
            return .success(LoraTag(range: range, name: name, weight: weight))
        default:
            return .failure(.severalWeights(text))
        }
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
    /// 1), rewriting its text; the cursor keeps its place in the tag. Returns the tag as it is now,
    /// or why it was left alone.
    @discardableResult
    public mutating func adjustLoraWeight(by delta: Double) -> Result<LoraTag, LoraTag.Problem> {
        switch LoraTag.at(cursor, in: characters) {
        case .failure(let problem):
            return .failure(problem)
        case .success(var tag):
            let weight = (((tag.weight ?? 1) + delta) * 100).rounded() / 100
            let text = LoraTag.text(name: tag.name, weight: weight)
            let offset = cursor - tag.range.lowerBound
            let old = tag.range
            // After the `>` stays after it; inside, the same place, at most on the new `>`.
            let place = offset == old.count ? text.count : min(offset, text.count - 1)
            replace(old, with: text, cursor: old.lowerBound + place)
            (tag.range, tag.weight) = (old.lowerBound..<(old.lowerBound + text.count), weight)
            return .success(tag)
        }
    }
}
