/// A byte-level BPE vocabulary with CLIP's `</w>` end-of-word marker: token strings by id and the
/// ranked merges. Built either from OpenAI's merges file alone, the way OpenAI's `SimpleTokenizer`
/// builds it (the 256 byte-level characters, the same with `</w>`, one token per merge (the first
/// 48,894 merges), then `<|startoftext|>` and `<|endoftext|>`: 49,408 tokens whose ids equal OpenAI's
/// vocab.json), or from a model folder's `vocab.json` and `merges.txt` (any number of merges).
struct BPEVocabulary: Sendable {
    /// Merges used: 49,152 - 256 - 2 (the file holds many more; CLIP uses only these).
    static let mergeCount = 49_152 - 256 - 2
    /// Suffix marking the last symbol of a word.
    static let endOfWord = "</w>"

    /// Token strings by id (byte-level characters, as in vocab.json).
    let tokens: [String]
    /// Byte value -> id of its byte-level character.
    let byteIDs: [Int32]
    /// Byte value -> id of its byte-level character with `</w>` (the last symbol of a word).
    let byteEndIDs: [Int32]
    /// `left << 32 | right` -> `rank << 32 | merged id`: the smallest value is the merge to apply first.
    let merges: [UInt64: UInt64]

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

        var merges = [UInt64: UInt64](minimumCapacity: Self.mergeCount)
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
            merges[Self.pairKey(left, right)] = Self.mergeValue(rank: merges.count, id: id)
            tokens.append(merged)
        }
        guard merges.count == Self.mergeCount else {
            throw CLIPTokenizer.LoadingError.tooFewMerges(found: merges.count, needed: Self.mergeCount)
        }
        tokens += ["<|startoftext|>", "<|endoftext|>"]
        self.tokens = tokens
        self.byteIDs = byteIDs
        self.byteEndIDs = byteIDs.map { $0 + 256 }
        self.merges = merges
    }

    /// What is wrong with a vocab.json / merges.txt pair.
    enum Problem: Error, Equatable {
        /// Two tokens have one id, or the ids are not 0..<count.
        case idsNotDense(count: Int)
        /// A byte-level character (with `</w>` or not) is not in the vocabulary.
        case missingByteToken(String)
        /// Merge number `index` (0-based) names a symbol that is not in the vocabulary.
        case unknownSymbol(index: Int, symbol: String)
        /// Merge number `index` makes a token that is not in the vocabulary.
        case unknownMergedToken(index: Int, token: String)
    }

    /// The vocabulary of a model folder: `ids` as read from vocab.json (token -> id, the ids
    /// exactly 0..<count) and `merges` in rank order as read from merges.txt. Every byte-level
    /// character must be a token, with and without `</w>`, so that any text can be encoded.
    /// A pair listed twice keeps its later rank, as the tokenizers library does.
    init(ids: [String: Int], merges pairs: [(left: String, right: String)]) throws(Problem) {
        var tokens = [String?](repeating: nil, count: ids.count)
        for (token, id) in ids {
            guard tokens.indices.contains(id), tokens[id] == nil else { throw .idsNotDense(count: ids.count) }
            tokens[id] = token
        }
        var byteIDs = [Int32](repeating: 0, count: 256)
        var byteEndIDs = [Int32](repeating: 0, count: 256)
        for entry in Self.byteAlphabet() {
            let character = String(Character(entry.scalar))
            guard let id = ids[character] else { throw .missingByteToken(character) }
            guard let endID = ids[character + Self.endOfWord] else { throw .missingByteToken(character + Self.endOfWord) }
            byteIDs[entry.byte] = Int32(id)
            byteEndIDs[entry.byte] = Int32(endID)
        }
        var merges = [UInt64: UInt64](minimumCapacity: pairs.count)
        for (rank, pair) in pairs.enumerated() {
            guard let left = ids[pair.left] else { throw .unknownSymbol(index: rank, symbol: pair.left) }
            guard let right = ids[pair.right] else { throw .unknownSymbol(index: rank, symbol: pair.right) }
            guard let merged = ids[pair.left + pair.right] else {
                throw .unknownMergedToken(index: rank, token: pair.left + pair.right)
            }
            merges[Self.pairKey(Int32(left), Int32(right))] = Self.mergeValue(rank: rank, id: Int32(merged))
        }
        self.tokens = tokens.map { $0 ?? "" }
        self.byteIDs = byteIDs
        self.byteEndIDs = byteEndIDs
        self.merges = merges
    }

    /// Token ids of one pre-tokenized word (its UTF-8 bytes), `</w>` on the last symbol: starts from
    /// one symbol per byte and repeatedly merges every occurrence of the earliest-ranked pair.
    func encodeWord(_ bytes: [UInt8]) -> [Int] {
        guard !bytes.isEmpty else { return [] }
        var symbols = bytes.map { byteIDs[Int($0)] }
        symbols[symbols.count - 1] = byteEndIDs[Int(bytes[bytes.count - 1])]
        while symbols.count > 1 {
            var best = UInt64.max
            var bestLeft: Int32 = 0
            var bestRight: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                if let merge = merges[Self.pairKey(symbols[i], symbols[i + 1])], merge < best {
                    best = merge
                    bestLeft = symbols[i]
                    bestRight = symbols[i + 1]
                }
            }
            if best == .max { break }
            let merged = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            var next: [Int32] = []
            next.reserveCapacity(symbols.count - 1)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == bestLeft && symbols[i + 1] == bestRight {
                    next.append(merged)
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

    /// A merge's entry in `merges`: its rank above the merged token's id, so that comparing
    /// entries compares ranks.
    static func mergeValue(rank: Int, id: Int32) -> UInt64 {
        UInt64(rank) << 32 | UInt64(UInt32(id))
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
