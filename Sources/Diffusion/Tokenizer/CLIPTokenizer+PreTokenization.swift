import Foundation

/// Text cleanup and splitting into words, as transformers' `CLIPTokenizer` (tokenizers backend):
///  1. added special tokens `<|startoftext|>` / `<|endoftext|>` (and any others the folder names) are
///     cut out of the raw text, or, for those marked `normalized`, out of the text after step 2;
///  2. each remaining part: NFC, `\s+` -> " ", lowercase (per scalar, no final-sigma rule);
///  3. split by `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
///     whitespace dropped;
///  4. the byte-level pre-tokenizer's GPT-2 split, which only changes the special-token spellings
///     that step 3 kept whole (say `<|EndOfText|>`, lowercased): they become `<|`, the name, `|>`.
extension CLIPTokenizer {
    /// A special token written in the text.
    enum Special: CaseIterable {
        case startOfText, endOfText

        var utf8: [UInt8] {
            switch self {
            case .startOfText: Array("<|startoftext|>".utf8)
            case .endOfText: Array("<|endoftext|>".utf8)
            }
        }
    }

    /// A piece of text cut at special tokens: ordinary text (a range of the input) or a special token's id.
    enum Segment: Equatable {
        case text(Range<Int>)
        case special(Int)
    }

    /// `items` cut at every occurrence of a special token (step 1): the leftmost match first, the
    /// longest where several start at one place, as the tokenizers library's added vocabulary does.
    static func specialSegments<Element: Equatable>(of items: [Element], specials: [(pattern: [Element], id: Int)]) -> [Segment] {
        guard !specials.isEmpty else { return items.isEmpty ? [] : [.text(0..<items.count)] }
        var segments: [Segment] = []
        var start = 0
        var i = 0
        while i < items.count {
            var best: (length: Int, id: Int)?
            for special in specials where special.pattern.count > (best?.length ?? 0) && items[i] == special.pattern[0]
                && items[i...].starts(with: special.pattern) {
                best = (special.pattern.count, special.id)
            }
            if let best {
                if start < i { segments.append(.text(start..<i)) }
                segments.append(.special(best.id))
                i += best.length
                start = i
            } else {
                i += 1
            }
        }
        if start < items.count { segments.append(.text(start..<items.count)) }
        return segments
    }

    /// NFC, whitespace runs collapsed to one space, lowercased scalar by scalar (step 2).
    static func normalized(_ text: String) -> [Unicode.Scalar] {
        let composed = text.utf8.allSatisfy { $0 < 0x80 } ? text : text.precomposedStringWithCanonicalMapping
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(composed.unicodeScalars.count)
        for scalar in composed.unicodeScalars {
            if scalar.isASCII {
                if ScalarClass(scalar) == .whitespace {
                    if scalars.last != " " { scalars.append(" ") }
                } else if ("A"..."Z").contains(scalar) {
                    scalars.append(Unicode.Scalar(UInt8(scalar.value) + 32))
                } else {
                    scalars.append(scalar)
                }
            } else if scalar.properties.isWhitespace {
                if scalars.last != " " { scalars.append(" ") }
            } else if scalar.properties.changesWhenLowercased {
                scalars += scalar.properties.lowercaseMapping.unicodeScalars
            } else {
                scalars.append(scalar)
            }
        }
        return scalars
    }

    /// Calls `body` with the UTF-8 bytes of each word of normalized text (steps 3 and 4).
    static func forEachWord(in scalars: [Unicode.Scalar], _ body: ([UInt8]) -> Void) {
        var word: [UInt8] = []
        func emit(_ range: Range<Int>) {
            word.removeAll(keepingCapacity: true)
            for scalar in scalars[range] { UTF8.encode(scalar) { word.append($0) } }
            body(word)
        }
        var i = 0
        while i < scalars.count {
            let start = i
            switch ScalarClass(scalars[i]) {
            case .whitespace:
                i += 1
            case .letter:
                while i < scalars.count && ScalarClass(scalars[i]) == .letter { i += 1 }
                emit(start..<i)
            case .number:
                i += 1
                emit(start..<i)
            case .other:
                if let length = specialSpelling(in: scalars, at: i) {
                    i += length
                    emit(start..<(start + 2))
                    emit((start + 2)..<(i - 2))
                    emit((i - 2)..<i)
                } else if let length = contraction(in: scalars, at: i) {
                    i += length
                    emit(start..<i)
                } else {
                    while i < scalars.count && ScalarClass(scalars[i]) == .other { i += 1 }
                    emit(start..<i)
                }
            }
        }
    }

    /// Length of `<|startoftext|>` or `<|endoftext|>` spelled at `i`, or nil.
    private static func specialSpelling(in scalars: [Unicode.Scalar], at i: Int) -> Int? {
        guard scalars[i] == "<", i + 1 < scalars.count, scalars[i + 1] == "|" else { return nil }
        for special in Special.allCases {
            let spelling = special.utf8
            guard i + spelling.count <= scalars.count else { continue }
            if zip(scalars[i..<(i + spelling.count)], spelling).allSatisfy({ $0.value == UInt32($1) }) {
                return spelling.count
            }
        }
        return nil
    }

    /// Length of `'s`, `'t`, `'re`, `'ve`, `'m`, `'ll` or `'d` at `i`, or nil.
    private static func contraction(in scalars: [Unicode.Scalar], at i: Int) -> Int? {
        guard scalars[i] == "'", i + 1 < scalars.count else { return nil }
        let next = scalars[i + 1]
        if next == "s" || next == "t" || next == "m" || next == "d" { return 2 }
        guard i + 2 < scalars.count else { return nil }
        switch (next, scalars[i + 2]) {
        case ("r", "e"), ("v", "e"), ("l", "l"): return 3
        default: return nil
        }
    }
}
