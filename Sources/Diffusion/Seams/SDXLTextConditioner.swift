import Tensor

/// SDXL's text side: OpenAI CLIP ViT-L and OpenCLIP ViT-bigG read the same prompt (A1111's syntax,
/// 75-token chunks, each encoder with its own tokenizer and pad token); their hidden states are
/// joined along the width (CLIP-L's first) as the cross-attention context, bigG's pooled output
/// through its text projection is `pooled`, and the size and crop ids are `timeIds`.
///
/// As diffusers' `StableDiffusionXLPipeline.encode_prompt` and A1111: the states are
/// `hidden_states[-2]` of each encoder as they are (no final layer norm); the pooled output is the
/// last layer's, final-normed, at the first window's end-of-text token, without emphasis.
/// Emphasis and its mean restoration apply to each encoder's states on their own, as A1111's two
/// embedders do. An empty negative prompt is all zeros (context and pooled) when the model says
/// `force_zeros_for_empty_prompt` (diffusers' `negative_prompt=None`, A1111's zeroed empty
/// negative). Clip skip: A1111 leaves SDXL at the penultimate layer whatever it is set to, and
/// ComfyUI's `CLIPSetLastLayer` -2 is the same; so clip skip 1 and 2 both give the penultimate, and
/// N > 2 takes `hidden_states[-N]` of both encoders (diffusers' `clip_skip` N - 2).
/// A textual-inversion embedding named in a prompt gives each encoder its own vectors: the file's
/// `clip_l` to CLIP-L, `clip_g` to bigG (A1111's SDXL embeddings); pooling stays at EOS.
public struct SDXLTextConditioner: TextConditioner {
    /// CLIP ViT-L (`text_encoder`, `conditioner.embedders.0`) with its tokenizer and pad token:
    /// each encoder is what SD 1.x / 2.x's whole text side is.
    public let first: CLIPTextConditioner
    /// OpenCLIP ViT-bigG (`text_encoder_2`, `conditioner.embedders.1`).
    public let second: CLIPTextConditioner
    /// bigG's `text_projection` (no bias): pooled [1, hidden] -> [1, projection].
    let projection: Linear
    /// Whether an empty negative prompt is zeros rather than the encoding of "".
    public let forceZerosForEmptyPrompt: Bool

    init(first: CLIPTextConditioner, second: CLIPTextConditioner, projection: Linear, forceZerosForEmptyPrompt: Bool) {
        self.first = first
        self.second = second
        self.projection = projection
        self.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt
    }

    /// Builds the conditioner, reading bigG's `text_projection.weight` [projection, hidden] from
    /// `projectionWeights` (transformers' `CLIPTextModelWithProjection` names).
    public init(first: CLIPTextConditioner, second: CLIPTextConditioner, projectionWeights: any WeightSource, projectionDim: Int,
                forceZerosForEmptyPrompt: Bool) throws {
        try self.init(first: first, second: second,
                      projection: Linear(projectionWeights, "text_projection", input: second.textModel.hiddenSize,
                                         output: projectionDim, bias: false),
                      forceZerosForEmptyPrompt: forceZerosForEmptyPrompt)
    }

    /// Both encoders' layers bound clip skip (1 to the smaller count + 1).
    public var layerCount: Int { min(first.textModel.layerCount, second.textModel.layerCount) }

    /// Width of the cross-attention context: both encoders' widths.
    public var contextWidth: Int { first.textModel.hiddenSize + second.textModel.hiddenSize }

    /// Width of the pooled output (bigG's projection).
    public var pooledWidth: Int { projection.weight.shape[0] }

    public func encode(_ request: ConditioningRequest) throws(GenerationError)
        -> (positive: Conditioning, negative: Conditioning?) {
        do {
            guard GenerationLimits.clipSkip(layers: layerCount).contains(Double(request.clipSkip)) else {
                throw PromptConditioningError.clipSkipOutOfRange(request.clipSkip, layerCount: layerCount)
            }
            let clipSkip = max(2, request.clipSkip)
            let encoders = (try first.promptConditioning(request.embeddings, encoder: .clipL, finalLayerNorm: false),
                            try second.promptConditioning(request.embeddings, encoder: .clipG, finalLayerNorm: false))
            let timeIds = Tensor(shape: [1, 6], values: request.timeIds)
            var positive = try encode(request.prompt, with: encoders, clipSkip: clipSkip)
            guard let negativePrompt = request.negativePrompt else {
                return (Conditioning(crossAttention: positive.states, pooled: positive.pooled, timeIds: timeIds), nil)
            }
            var negative: (states: Tensor, pooled: Tensor)
            if negativePrompt.isEmpty && forceZerosForEmptyPrompt {
                negative = (Tensor(zeros: positive.states.shape), Tensor(zeros: positive.pooled.shape))
            } else {
                negative = try encode(negativePrompt, with: encoders, clipSkip: clipSkip)
                // The shorter one is padded with the empty prompt's windows, as SD 1.x / 2.x are.
                let length = max(positive.states.shape[1], negative.states.shape[1])
                if positive.states.shape[1] < length || negative.states.shape[1] < length {
                    let empty = try encode("", with: encoders, clipSkip: clipSkip).states
                    positive.states = PromptConditioning.padded(positive.states, to: length, with: empty)
                    negative.states = PromptConditioning.padded(negative.states, to: length, with: empty)
                }
            }
            return (Conditioning(crossAttention: positive.states, pooled: positive.pooled, timeIds: timeIds),
                    Conditioning(crossAttention: negative.states, pooled: negative.pooled, timeIds: timeIds))
        } catch let error as PromptConditioningError {
            throw .invalid(error.description)
        } catch {
            throw .invalid("\(error)")
        }
    }

    /// The embeddings the prompt and (when given) the negative prompt use, in that order (as
    /// CLIP-L's tokenizer finds them; bigG's reads the same names).
    public func embeddings(usedBy request: ConditioningRequest) throws(GenerationError) -> [TextualInversion] {
        try first.embeddings(usedBy: request, encoder: .clipL)
    }

    /// One prompt through both encoders: states [1, 77k, contextWidth] and pooled [1, pooledWidth].
    private func encode(_ prompt: String, with encoders: (PromptConditioning, PromptConditioning),
                        clipSkip: Int) throws(PromptConditioningError) -> (states: Tensor, pooled: Tensor) {
        let a = try encoders.0.encode(chunks: encoders.0.chunks(of: prompt), clipSkip: clipSkip)
        let (b, pooled) = try encoders.1.encodePooled(chunks: encoders.1.chunks(of: prompt), clipSkip: clipSkip)
        // The two tokenizers share CLIP's vocabulary; should their chunk counts still differ (one
        // cuts its pad token out of prompts), the shorter is padded with its own empty windows.
        let length = max(a.shape[1], b.shape[1])
        let joined = concatLastDimension(
            a.shape[1] < length ? try encoders.0.padded(a, to: length, clipSkip: clipSkip) : a,
            b.shape[1] < length ? try encoders.1.padded(b, to: length, clipSkip: clipSkip) : b)
        return (joined, projection(pooled))
    }
}
