/// Up to 75 tokens of a prompt, the part of it one text-encoder window holds, with the emphasis of
/// each token. The window adds BOS, EOS and padding, all of weight 1.
public struct PromptChunk: Equatable, Sendable {
    /// Token ids, at most `CLIPTokenizer.tokensPerWindow`, without BOS and EOS.
    public var tokens: [Int]
    /// One weight per token, in Float32 as A1111 hands them to torch.
    public var weights: [Float]

    public init(tokens: [Int], weights: [Float]) {
        self.tokens = tokens
        self.weights = weights
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
            for token in encode(text) {
                if token == comma {
                    lastComma = chunk.tokens.count
                } else if commaBacktrack != 0, chunk.tokens.count == length, let last = lastComma,
                          length - last <= commaBacktrack {
                    let moved = PromptChunk(tokens: Array(chunk.tokens[(last + 1)...]), weights: Array(chunk.weights[(last + 1)...]))
                    chunk.tokens.removeSubrange((last + 1)...)
                    chunk.weights.removeSubrange((last + 1)...)
                    endChunk()
                    chunk = moved
                }
                if chunk.tokens.count == length { endChunk() }
                chunk.tokens.append(token)
                chunk.weights.append(Float(weight))
            }
        }
        if !chunk.tokens.isEmpty || chunks.isEmpty { endChunk() }
        return chunks
    }
}
