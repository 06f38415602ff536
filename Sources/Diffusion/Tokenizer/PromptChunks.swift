/// Up to 75 tokens of a prompt, the part of it one text-encoder window holds, with the emphasis of
/// each token. The window adds BOS, EOS and padding, all of weight 1.
public struct PromptChunk: Equatable, Sendable {
    /// Token ids, at most `CLIPTokenizer.tokensPerWindow`, without BOS and EOS. Where an
    /// embedding stands, `embeddingPlaceholder` once per vector.
    public var tokens: [Int]
    /// One weight per token, in Float32 as A1111 hands them to torch.
    public var weights: [Float]
    /// Textual-inversion embeddings in this chunk, in order: each one's vectors take the place of
    /// the token embeddings at `tokens[offset..<offset + count]` (A1111's `PromptChunk.fixes`).
    public var embeddings: [EmbeddedVectors]

    public init(tokens: [Int], weights: [Float], embeddings: [EmbeddedVectors] = []) {
        self.tokens = tokens
        self.weights = weights
        self.embeddings = embeddings
    }

    /// The id standing in `tokens` for an embedding's vectors (A1111 writes 0 there too); the
    /// text encoder never looks it up.
    public static let embeddingPlaceholder = 0

    /// The token-embedding vectors that replace the table's, by position in this chunk's window
    /// (BOS at 0, so a chunk offset `o` is window position `o + 1`).
    public var windowVectors: [Int: ArraySlice<Float>] {
        var vectors: [Int: ArraySlice<Float>] = [:]
        for embedded in embeddings {
            for i in 0..<embedded.vectors.count { vectors[1 + embedded.offset + i] = embedded.vectors.vector(i) }
        }
        return vectors
    }
}

/// One use of a textual-inversion embedding in a chunk.
public struct EmbeddedVectors: Equatable, Sendable {
    /// Where its first vector stands in the chunk's tokens.
    public var offset: Int
    /// The embedding (name, file, hash).
    public var embedding: TextualInversion
    /// Its vectors for the encoder this chunk is for.
    public var vectors: EmbeddingVectors

    public init(offset: Int, embedding: TextualInversion, vectors: EmbeddingVectors) {
        self.offset = offset
        self.embedding = embedding
        self.vectors = vectors
    }
}

/// A1111's long-prompt chunking (`FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line`).
extension CLIPTokenizer {
    /// A1111's default `comma_padding_backtrack`: how far back from a full chunk's end a comma may
    /// be for the text after it to move to the next chunk.
    public static let defaultCommaBacktrack = 20

    /// The chunks of `prompt` read with A1111's emphasis syntax (`PromptSyntax`). See `chunks(of:)`
    /// for pieces.
    public func chunks(of prompt: String, commaBacktrack: Int = defaultCommaBacktrack) throws(PromptSyntaxError) -> [PromptChunk] {
        chunks(of: try PromptSyntax.parse(prompt), commaBacktrack: commaBacktrack)
    }

    /// The chunks of parsed prompt `pieces`, as A1111 makes them: each text is tokenized on its own
    /// and its tokens fill chunks of 75. When a chunk is full and the next token is not a comma,
    /// and the chunk's last comma is among its last `commaBacktrack` tokens (0: never), the tokens
    /// after that comma move to the next chunk. `BREAK` ends the current chunk, even an empty one
    /// (so a prompt starting with BREAK begins with an empty chunk). Never empty: an empty prompt
    /// is one empty chunk.
    public func chunks(of pieces: [PromptSyntax.Piece], commaBacktrack: Int = defaultCommaBacktrack) -> [PromptChunk] {
        chunks(of: pieces, commaBacktrack: commaBacktrack) { (_, _) throws(Never) in nil }
    }

    /// As `chunks(of:commaBacktrack:)`, with the textual-inversion embeddings of `embeddings`
    /// (nil: none): wherever an embedding's name occurs in a text's tokens, its `n` vectors stand
    /// there instead (`n` positions of the chunk, with the text's weight); an embedding that
    /// would not fit in what is left of a chunk starts the next one whole, and moves with the
    /// text after a comma when that moves. Throws when a named embedding's file is unusable.
    func chunks(of pieces: [PromptSyntax.Piece], commaBacktrack: Int = defaultCommaBacktrack,
                embeddings: EmbeddingVocabulary?) throws(EmbeddingError) -> [PromptChunk] {
        guard let embeddings else { return chunks(of: pieces, commaBacktrack: commaBacktrack) }
        return try chunks(of: pieces, commaBacktrack: commaBacktrack) { (tokens, position) throws(EmbeddingError) in
            try embeddings.match(tokens, at: position).map { (EmbeddedVectors(offset: 0, embedding: $0.embedding, vectors: $0.vectors), $0.tokenCount) }
        }
    }

    /// The chunking, with `match(tokens, position)` giving the embedding (its offset unset) whose
    /// name starts at `position` of a text's `tokens`, and how many tokens the name takes.
    private func chunks<E: Error>(of pieces: [PromptSyntax.Piece], commaBacktrack: Int,
                                  match: ([Int], Int) throws(E) -> (EmbeddedVectors, tokenCount: Int)?) throws(E) -> [PromptChunk] {
        let comma = encode(",").first  // `,</w>`
        let length = Self.tokensPerWindow
        var chunks: [PromptChunk] = []
        var chunk = PromptChunk(tokens: [], weights: [])
        var lastComma: Int?  // index of the current chunk's last comma, as A1111 tracks it

        func endChunk() {
            chunks.append(chunk)
            chunk = PromptChunk(tokens: [], weights: [])
            lastComma = nil
        }

        for piece in pieces {
            guard case .text(let text, let weight) = piece else {
                endChunk()
                continue
            }
            let tokens = encode(text)
            var position = 0
            while position < tokens.count {
                let token = tokens[position]
                if token == comma {
                    lastComma = chunk.tokens.count
                } else if commaBacktrack != 0, chunk.tokens.count == length, let last = lastComma,
                          length - last <= commaBacktrack {
                    let moved = chunk.split(at: last + 1)
                    endChunk()
                    chunk = moved
                }
                if chunk.tokens.count == length { endChunk() }
                if let found = try match(tokens, position) {
                    var embedded = found.0
                    let count = embedded.vectors.count
                    if chunk.tokens.count + count > length { endChunk() }
                    embedded.offset = chunk.tokens.count
                    chunk.embeddings.append(embedded)
                    chunk.tokens += repeatElement(PromptChunk.embeddingPlaceholder, count: count)
                    chunk.weights += repeatElement(Float(weight), count: count)
                    position += found.tokenCount
                    continue
                }
                chunk.tokens.append(token)
                chunk.weights.append(Float(weight))
                position += 1
            }
        }
        if !chunk.tokens.isEmpty || chunks.isEmpty { endChunk() }
        return chunks
    }
}

extension PromptChunk {
    /// Cuts the chunk at token `index`: this keeps the tokens before it, the tokens from it on
    /// are returned as a chunk of their own, with the embeddings that stand there (none is cut
    /// in two: a comma never stands inside an embedding).
    mutating func split(at index: Int) -> PromptChunk {
        var rest = PromptChunk(tokens: Array(tokens[index...]), weights: Array(weights[index...]))
        rest.embeddings = embeddings.filter { $0.offset >= index }.map {
            var moved = $0
            moved.offset -= index
            return moved
        }
        embeddings.removeAll { $0.offset >= index }
        tokens.removeSubrange(index...)
        weights.removeSubrange(index...)
        return rest
    }
}
