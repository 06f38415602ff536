import Tensor

/// Prompts as AUTOMATIC1111 users write them, turned into the text encoder's conditioning.
///
/// A prompt is read with A1111's emphasis syntax (`PromptSyntax`) and cut into chunks of 75
/// tokens as A1111 cuts it (`CLIPTokenizer.chunks(of:)`: comma backtrack, `BREAK`). Each chunk
/// becomes one 77-token window, BOS + tokens + EOS + the model's pad token, encoded on its own;
/// the windows' hidden states are joined along the sequence: [1, 77 x chunks, hidden].
///
/// Emphasis is A1111's "Original": a window's hidden states are multiplied token by token by
/// their weights, then the whole window is scaled so that its mean equals the unweighted mean.
/// A window whose weights are all 1 is left exactly as the encoder made it, so a prompt without
/// syntax that fits one window gives exactly diffusers' `StableDiffusionPipeline.encode_prompt`
/// (tokenizer padding to 77 with truncation; A1111's clip skip N is diffusers' `clip_skip` N - 1).
///
/// Textual-inversion embeddings (given a library) are found in the prompt's tokens as A1111 finds
/// them (`EmbeddingVocabulary`): their vectors replace the token-embedding lookup at as many
/// positions as they have vectors, which count toward the chunk and take the text's emphasis.
public struct PromptConditioning {
    /// The tokenizer, usually the model folder's own.
    public let tokenizer: CLIPTokenizer
    /// The text encoder.
    public let textModel: CLIPTextModel
    /// The id filling each window after EOS.
    public let padToken: Int
    /// A1111's `comma_padding_backtrack` (default 20; 0 never moves text to the next chunk).
    public var commaBacktrack = CLIPTokenizer.defaultCommaBacktrack
    /// Whether the conditioning is the chosen layer's output through the final layer norm (SD 1.x /
    /// 2.x) or the raw hidden state (SDXL, whose encoders give `hidden_states[-2]` as they are).
    public let finalLayerNorm: Bool
    /// The embeddings prompts may name, as this encoder's tokenizer reads their names; nil: none.
    let embeddings: EmbeddingVocabulary?

    /// Conditioning with `textModel` for prompts read by `tokenizer`, windows padded with
    /// `padToken` (default: the tokenizer's own pad token, `!` for an SD2 folder's tokenizer).
    /// Prompts may use the textual-inversion embeddings of `embeddings`, taking each one's
    /// vectors for `embeddingEncoder` (SD 1.x / 2.x: `.single`; SDXL's encoders `.clipL`, `.clipG`).
    /// Throws when the tokenizer's ids or the 77-token windows do not fit the text encoder, or the
    /// embeddings folder cannot be listed.
    public init(tokenizer: CLIPTokenizer, textModel: CLIPTextModel, padToken: Int? = nil, finalLayerNorm: Bool = true,
                embeddings: EmbeddingLibrary? = nil, embeddingEncoder: EmbeddingEncoder = .single) throws(PromptConditioningError) {
        let pad = padToken ?? tokenizer.pad
        guard tokenizer.vocabularySize <= textModel.config.vocabSize, pad >= 0, pad < textModel.config.vocabSize else {
            throw .vocabularyMismatch(tokenizer: tokenizer.vocabularySize, textModel: textModel.config.vocabSize, pad: pad)
        }
        guard textModel.config.maxPositionEmbeddings >= CLIPTokenizer.windowLength else {
            throw .tooFewPositions(textModel.config.maxPositionEmbeddings)
        }
        self.tokenizer = tokenizer
        self.textModel = textModel
        self.padToken = pad
        self.finalLayerNorm = finalLayerNorm
        do {
            self.embeddings = try embeddings.map { (library) throws(EmbeddingError) in
                try EmbeddingVocabulary(library: library, tokenizer: tokenizer, encoder: embeddingEncoder, width: textModel.hiddenSize)
            }
        } catch {
            throw .embedding(error)
        }
    }

    /// The conditioning of `prompt`: [1, 77 x chunks, hidden]. `clipSkip` counts as A1111's
    /// "Clip skip": 1 takes the last layer, N > 1 the output N - 1 layers before it, then the final
    /// layer norm (valid up to the layer count + 1, the embeddings).
    public func encode(_ prompt: String, clipSkip: Int = 1) throws(PromptConditioningError) -> Tensor {
        try encode(chunks: chunks(of: prompt), clipSkip: clipSkip)
    }

    /// `prompt` cut into 75-token chunks as A1111 cuts it, with its embeddings' vectors.
    public func chunks(of prompt: String) throws(PromptConditioningError) -> [PromptChunk] {
        let pieces: [PromptSyntax.Piece]
        do {
            pieces = try PromptSyntax.parse(prompt)
        } catch {
            throw .syntax(error)
        }
        do {
            return try tokenizer.chunks(of: pieces, commaBacktrack: commaBacktrack, embeddings: embeddings)
        } catch {
            throw .embedding(error)
        }
    }

    /// The embeddings `prompts` use, each once, in the order first used.
    public func embeddings(usedBy prompts: [String]) throws(PromptConditioningError) -> [TextualInversion] {
        var used: [TextualInversion] = []
        for prompt in prompts {
            for chunk in try chunks(of: prompt) {
                for embedded in chunk.embeddings where !used.contains(where: { $0.path == embedded.embedding.path }) {
                    used.append(embedded.embedding)
                }
            }
        }
        return used
    }

    /// The conditioning of `prompt` and of `negative`, the same length: when one has fewer chunks,
    /// the encoding of the empty prompt is appended to it once per missing chunk, as A1111 does
    /// with "Pad prompt/negative prompt" set (its default, off, runs the two unequal lengths through
    /// the UNet separately instead). `negativeClipSkip` (default `clipSkip`) is there to reproduce
    /// diffusers, whose `encode_prompt` applies `clip_skip` to the prompt only: pass 1.
    public func encode(prompt: String, negative: String, clipSkip: Int = 1,
                       negativeClipSkip: Int? = nil) throws(PromptConditioningError) -> (positive: Tensor, negative: Tensor) {
        var positive = try encode(prompt, clipSkip: clipSkip)
        var negativeConditioning = try encode(negative, clipSkip: negativeClipSkip ?? clipSkip)
        if positive.shape[1] < negativeConditioning.shape[1] {
            positive = try padded(positive, to: negativeConditioning.shape[1], clipSkip: clipSkip)
        } else if negativeConditioning.shape[1] < positive.shape[1] {
            negativeConditioning = try padded(negativeConditioning, to: positive.shape[1], clipSkip: negativeClipSkip ?? clipSkip)
        }
        return (positive, negativeConditioning)
    }

    /// The conditioning of chunks already made: one window each, joined. [1, 77 x chunks, hidden]
    public func encode(chunks: [PromptChunk], clipSkip: Int = 1) throws(PromptConditioningError) -> Tensor {
        try encode(chunks: chunks, clipSkip: clipSkip, pooling: false).states
    }

    /// As `encode(chunks:clipSkip:)`, and also the pooled output of the first chunk (of an empty
    /// chunk when there are none), as SDXL (diffusers and A1111) takes it: the last layer's output
    /// through the final layer norm at the window's end-of-text token [1, hidden], whatever layer
    /// the states come from and without emphasis. Runs the first window through every layer.
    public func encodePooled(chunks: [PromptChunk], clipSkip: Int) throws(PromptConditioningError) -> (states: Tensor, pooled: Tensor) {
        let (states, pooled) = try encode(chunks: chunks.isEmpty ? [PromptChunk(tokens: [], weights: [])] : chunks,
                                          clipSkip: clipSkip, pooling: true)
        return (states, pooled ?? Tensor(zeros: [1, textModel.config.hiddenSize]))  // never nil: there is a first chunk
    }

    /// The states of `chunks`, and with `pooling` the pooled output of the first (see `encodePooled`).
    private func encode(chunks: [PromptChunk], clipSkip: Int, pooling: Bool) throws(PromptConditioningError)
        -> (states: Tensor, pooled: Tensor?) {
        let layerCount = textModel.layers.count
        guard GenerationLimits.clipSkip(layers: layerCount).contains(Double(clipSkip)) else {
            throw .clipSkipOutOfRange(clipSkip, layerCount: layerCount)
        }
        let hidden = textModel.config.hiddenSize
        for chunk in chunks {
            if let weight = chunk.weights.first(where: { !(abs($0) <= Self.maximumWeight) }) {
                throw .weightOutOfRange(weight)
            }
            // Chunks made elsewhere: vectors that do not fit this encoder or their chunk are refused.
            for embedded in chunk.embeddings where embedded.vectors.width != hidden || embedded.offset < 0
                || embedded.offset + embedded.vectors.count > min(chunk.tokens.count, CLIPTokenizer.tokensPerWindow) {
                throw .embedding(EmbeddingError(path: embedded.embedding.path, problem: "\(embedded.vectors.count) vectors \(embedded.vectors.width) wide "
                    + "at token \(embedded.offset) do not fit a chunk of \(chunk.tokens.count) tokens for a \(hidden)-wide text encoder"))
            }
        }
        var storage: [Float] = []
        storage.reserveCapacity(chunks.count * CLIPTokenizer.windowLength * hidden)
        var pooled: Tensor?
        for (index, chunk) in chunks.enumerated() {
            let window = tokenizer.window(chunk.tokens, padWith: padToken)
            let pools = pooling && index == 0
            let vectors = chunk.embeddings.isEmpty ? [] : [chunk.windowVectors]
            let states = textModel.hiddenStates(tokens: [window], vectors: vectors, upToLayer: pools ? nil : layerCount - (clipSkip - 1))
            let chosen = states[layerCount - (clipSkip - 1)]  // hidden_states[-clipSkip]
            var z = finalLayerNorm ? textModel.applyFinalLayerNorm(chosen) : chosen  // [1, 77, hidden]
            if pools, let last = states.last {
                let end = window.firstIndex(of: tokenizer.eos) ?? window.count - 1
                let row = Tensor(shape: [1, 1, hidden], values: Array(last.storage[(end * hidden)..<((end + 1) * hidden)]))
                pooled = textModel.applyFinalLayerNorm(row).reshaped([1, hidden])
            }
            if chunk.weights.contains(where: { $0 != 1 }) {
                Self.emphasize(&z, weights: [1] + chunk.weights + [Float](repeating: 1, count: window.count - 1 - chunk.weights.count))
            }
            storage += z.storage
        }
        return (Tensor(shape: [1, chunks.count * CLIPTokenizer.windowLength, hidden], values: storage), pooled)
    }

    /// The largest emphasis weight (either sign) a token may get: past it the conditioning is
    /// meaningless, and ever deeper brackets (1.1^n) reach infinity and then NaN.
    public static let maximumWeight: Float = 100

    /// A1111's "Original" emphasis on one window z [1, T, hidden]: z[t] *= weights[t], then
    /// z *= mean(z before) / mean(z after). The means are summed in Double: A1111's float32 means
    /// drift by 1e-5 relative when the mean is small next to the values (a mean of 5e-4 over values
    /// up to 3 is seen), and the ratio carries that drift into every value.
    static func emphasize(_ z: inout Tensor, weights: [Float]) {
        let hidden = z.shape[2]
        precondition(weights.count == z.shape[1], "one weight per token")
        let originalMean = mean(z.storage)
        for (t, weight) in weights.enumerated() {
            for c in (t * hidden)..<((t + 1) * hidden) { z.storage[c] *= weight }
        }
        let scale = Float(originalMean / mean(z.storage))
        for i in z.storage.indices { z.storage[i] *= scale }
    }

    /// Mean of `values`, summed in Double.
    static func mean(_ values: [Float]) -> Double {
        values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
    }

    /// `conditioning` [1, T, hidden] followed by the empty prompt's encoding up to `length` tokens.
    func padded(_ conditioning: Tensor, to length: Int, clipSkip: Int) throws(PromptConditioningError) -> Tensor {
        Self.padded(conditioning, to: length, with: try encode("", clipSkip: clipSkip))
    }

    /// `conditioning` [1, T, width] followed by copies of `empty` [1, 77, width] up to `length` tokens.
    static func padded(_ conditioning: Tensor, to length: Int, with empty: Tensor) -> Tensor {
        var storage = conditioning.storage
        for _ in 0..<((length - conditioning.shape[1]) / CLIPTokenizer.windowLength) { storage += empty.storage }
        return Tensor(shape: [1, length, conditioning.shape[2]], values: storage)
    }
}

/// Why a prompt could not be turned into conditioning: one line.
public enum PromptConditioningError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The prompt's emphasis syntax is unreadable.
    case syntax(PromptSyntaxError)
    /// Clip skip is below 1 or beyond the text encoder's layers + 1.
    case clipSkipOutOfRange(Int, layerCount: Int)
    /// The tokenizer makes ids (or the pad id is one) the text encoder has no embedding for.
    case vocabularyMismatch(tokenizer: Int, textModel: Int, pad: Int)
    /// The text encoder's position table is shorter than a 77-token window.
    case tooFewPositions(Int)
    /// A token's emphasis weight (brackets multiplied out) is beyond `maximumWeight`.
    case weightOutOfRange(Float)
    /// A textual-inversion embedding the prompt names (or the embeddings folder) is unusable.
    case embedding(EmbeddingError)

    public var description: String {
        switch self {
        case .syntax(let error):
            error.description
        case .embedding(let error):
            error.description
        case .clipSkipOutOfRange(let clipSkip, let layerCount):
            "clip skip must be a whole number from 1 to \(layerCount + 1) (this text encoder has \(layerCount) layers), not \(clipSkip)"
        case .weightOutOfRange(let weight):
            "a prompt emphasis weight is \(weight) (brackets multiply: (x) is 1.1 times, ((x)) 1.21, ...); "
                + "weights must be from -\(Int(PromptConditioning.maximumWeight)) to \(Int(PromptConditioning.maximumWeight))"
        case .vocabularyMismatch(let tokenizer, let textModel, let pad):
            "the tokenizer's \(tokenizer) tokens (pad id \(pad)) do not fit the text encoder's \(textModel)-token embedding table"
        case .tooFewPositions(let positions):
            "the text encoder has \(positions) positions, fewer than a \(CLIPTokenizer.windowLength)-token window"
        }
    }
}
