import Foundation
import Tensor

/// SD 1.x / 2.x's text side: one CLIP text encoder read with A1111's prompt syntax, 75-token
/// chunks, clip skip and textual-inversion embeddings (`PromptConditioning`), its hidden states
/// the cross-attention context; errors as one-line `GenerationError`s.
public struct CLIPTextConditioner: TextConditioner {
    public let tokenizer: CLIPTokenizer
    public let textModel: CLIPTextModel
    /// The token that pads a window after EOS.
    public let padToken: Int

    public init(tokenizer: CLIPTokenizer, textModel: CLIPTextModel, padToken: Int) {
        self.tokenizer = tokenizer
        self.textModel = textModel
        self.padToken = padToken
    }

    public var layerCount: Int { textModel.layerCount }

    /// The prompt's [1, 77k, hidden] context, and the negative prompt's padded to the same length;
    /// clip skip applies to both, as in A1111. The size does not condition SD 1.x / 2.x.
    public func encode(_ request: ConditioningRequest) throws(GenerationError)
        -> (positive: Conditioning, negative: Conditioning?) {
        do {
            let conditioning = try promptConditioning(request.embeddings)
            guard let negative = request.negativePrompt else {
                return (Conditioning(crossAttention: try conditioning.encode(request.prompt, clipSkip: request.clipSkip)), nil)
            }
            let pair = try conditioning.encode(prompt: request.prompt, negative: negative, clipSkip: request.clipSkip)
            return (Conditioning(crossAttention: pair.positive), Conditioning(crossAttention: pair.negative))
        } catch {
            throw .invalid(error.description)
        }
    }

    /// The embeddings the prompt and (when given) the negative prompt use, in that order.
    public func embeddings(usedBy request: ConditioningRequest) throws(GenerationError) -> [TextualInversion] {
        try embeddings(usedBy: request, encoder: .single)
    }

    /// As `embeddings(usedBy:)`, this encoder taking the files' vectors for `encoder`.
    func embeddings(usedBy request: ConditioningRequest, encoder: EmbeddingEncoder) throws(GenerationError) -> [TextualInversion] {
        guard request.embeddings != nil else { return [] }
        do {
            let prompts = [request.prompt] + (request.negativePrompt.map { [$0] } ?? [])
            return try promptConditioning(request.embeddings, encoder: encoder).embeddings(usedBy: prompts)
        } catch {
            throw .invalid(error.description)
        }
    }

    /// This encoder's prompt reader, with `embeddings` taken from the file's tensor for `encoder`
    /// (SDXL's encoders are `.clipL` and `.clipG`) and the final layer norm or not.
    func promptConditioning(_ embeddings: EmbeddingLibrary?, encoder: EmbeddingEncoder = .single,
                            finalLayerNorm: Bool = true) throws(PromptConditioningError) -> PromptConditioning {
        try PromptConditioning(tokenizer: tokenizer, textModel: textModel, padToken: padToken, finalLayerNorm: finalLayerNorm,
                               embeddings: embeddings, embeddingEncoder: encoder)
    }
}
