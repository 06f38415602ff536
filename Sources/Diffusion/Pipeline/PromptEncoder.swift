import Foundation
import Tensor

/// The model's prompts -> UNet conditioning (`PromptConditioning`: A1111 syntax, 75-token
/// chunks, clip skip), with errors as one-line `GenerationError`s.
struct PromptEncoder {
    let conditioning: PromptConditioning

    init(model: StableDiffusionModel) throws(GenerationError) {
        do {
            conditioning = try PromptConditioning(tokenizer: model.tokenizer, textModel: model.textModel,
                                                  padToken: model.padToken)
        } catch {
            throw .invalid(error.description)
        }
    }

    /// [1, 77k, hidden] for `prompt`.
    func encode(_ prompt: String, clipSkip: Int) throws(GenerationError) -> Tensor {
        do {
            return try conditioning.encode(prompt, clipSkip: clipSkip)
        } catch {
            throw .invalid(error.description)
        }
    }

    /// Conditioning for the prompt and the negative prompt, padded to the same length; clip skip
    /// applies to both, as in A1111.
    func encode(prompt: String, negative: String, clipSkip: Int) throws(GenerationError)
        -> (positive: Tensor, negative: Tensor) {
        do {
            return try conditioning.encode(prompt: prompt, negative: negative, clipSkip: clipSkip)
        } catch {
            throw .invalid(error.description)
        }
    }
}
