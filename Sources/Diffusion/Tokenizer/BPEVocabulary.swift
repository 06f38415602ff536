/// OpenAI CLIP's byte-level BPE vocabulary, built from the merges file the way OpenAI's
/// `SimpleTokenizer` builds it: the 256 byte-level characters, the same with `</w>`, one token per
/// merge (the first 48,894 merges), then `<|startoftext|>` and `<|endoftext|>`. 49,408 tokens whose
/// ids equal OpenAI's vocab.json (which transformers' `CLIPTokenizer` reads).
struct BPEVocabulary: Sendable {
    /// Merges used: 49,152 - 256 - 2 (the file holds many more; CLIP uses only these).
    static let mergeCount = 49_152 - 256 - 2
    /// Suffix marking the last symbol of a word.
    static let endOfWord = "</w>"

    /// Token strings by id (byte-level characters, as in vocab.json).
    let tokens: [String]
    /// Byte value -> id of its byte-level character; the `</w>` form is that id + 256.
    let byteIDs: [Int32]
    /// `left << 32 | right` -> id of the merged token. Merged ids grow with the merge's rank, so
    /// the smallest id is the merge to apply first.
    let merges: [UInt64: Int32]

    /// Id of `<|startoftext|>`.
    var startOfText: Int { tokens.count - 2 }
    /// Id of `<|endoftext|>`.
    var endOfText: Int { tokens.count - 1 }

    /// Builds the vocabulary from the text of `bpe_simple_vocab_16e6.txt`: an optional header line
    /// holding `#version` (the file's reads `"bpe_simple_vocab_16e6.txt#version: 0.2`), then one
    /// `left right` merge per line; empty lines and lines after the 48,894th merge are ignored.
    init(mergesText: String) throws {
        let alphabet = Self.byteAlphabet()
        var tokens = alphabet.map { String(Character($0.scalar)) }
        tokens += tokens.map { $0 + Self.endOfWord }
        var ids = [String: Int32](minimumCapacity: 49_408)
        for (id, token) in tokens.enumerated() { ids[token] = Int32(id) }

        var byteIDs = [Int32](repeating: 0, count: 256)
        for (id, entry) in alphabet.enumerated() { byteIDs[entry.byte] = Int32(id) }

        var merges = [UInt64: Int32](minimumCapacity: Self.mergeCount)
        var lineNumber = 0
        for line in mergesText.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if merges.count == Self.mergeCount { break }
            if line.isEmpty || (lineNumber == 1 && line.contains("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let left = ids[String(parts[0])], let right = ids[String(parts[1])] else {
                throw CLIPTokenizer.LoadingError.malformedMerge(line: lineNumber, text: String(line))
            }
            let merged = String(parts[0]) + String(parts[1])
            let id = Int32(tokens.count)
            guard ids.updateValue(id, forKey: merged) == nil else {
                throw CLIPTokenizer.LoadingError.malformedMerge(line: lineNumber, text: String(line))
            }
            tokens.append(merged)
            merges[Self.pairKey(left, right)] = id
        }
        guard merges.count == Self.mergeCount else {
            throw CLIPTokenizer.LoadingError.tooFewMerges(found: merges.count, needed: Self.mergeCount)
        }
        tokens += ["<|startoftext|>", "<|endoftext|>"]
        self.tokens = tokens
        self.byteIDs = byteIDs
        self.merges = merges
    }

    /// Token ids of one pre-tokenized word (its UTF-8 bytes), `</w>` on the last symbol: starts from
    /// one symbol per byte and repeatedly merges every occurrence of the earliest-ranked pair.
    func encodeWord(_ bytes: [UInt8]) -> [Int] {
        guard !bytes.isEmpty else { return [] }
        var symbols = bytes.map { byteIDs[Int($0)] }
        symbols[symbols.count - 1] += 256
        while symbols.count > 1 {
            var best = Int32.max
            var bestLeft: Int32 = 0
            var bestRight: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                if let merged = merges[Self.pairKey(symbols[i], symbols[i + 1])], merged < best {
                    best = merged
                    bestLeft = symbols[i]
                    bestRight = symbols[i + 1]
                }
            }
            if best == .max { break }
            var next: [Int32] = []
            next.reserveCapacity(symbols.count - 1)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == bestLeft && symbols[i + 1] == bestRight {
                    next.append(best)
                    i += 2
                } else {
                    next.append(symbols[i])
                    i += 1
                }
            }
            symbols = next
        }
        return symbols.map { Int($0) }
    }

    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
    }

    /// OpenAI's `bytes_to_unicode`, in vocabulary order: (byte, character) for the printable bytes
    /// `!`...`~`, `¡`...`¬`, `®`...`ÿ`, which stand for themselves, then the other 68 bytes, ascending,
    /// which map to U+0100 onwards (so that no token holds whitespace or control characters).
    static func byteAlphabet() -> [(byte: Int, scalar: Unicode.Scalar)] {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let others = (0..<256).filter { !printable.contains($0) }
        let mapped = printable.map { ($0, UInt32($0)) } + others.enumerated().map { ($1, UInt32(256 + $0)) }
        return mapped.map { (byte: $0.0, scalar: Unicode.Scalar($0.1) ?? "?") }
    }
}
