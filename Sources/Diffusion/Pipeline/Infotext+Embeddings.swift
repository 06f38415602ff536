import Foundation

extension Infotext {
    /// A1111's `TI hashes` value for the textual-inversion embeddings `request`'s prompts use on
    /// `model` (`"name: hash, name2: hash2"`: each embedding's name without `:` and `,`, and the
    /// first 12 hex digits of its file's SHA-256), nil when they use none. The negative prompt
    /// counts only when the run encodes it (guided). The embeddings are found again as the run
    /// found them (the same rule, files from the cache); when that fails now (the folder changed
    /// since), the field is left out.
    ///
    /// A1111 lists the prompt's embeddings, then the negative prompt's, an embedding used in both
    /// twice; stipple lists each once.
    static func embeddingHashes(_ request: GenerationRequest, model: StableDiffusionModel) -> String? {
        guard let folder = request.embeddingsFolder else { return nil }
        let guided = request.isGuided && !model.denoiser.embedsGuidance
        let (width, height) = request.size(for: model)
        // The prompts as encoded: without their `<lora:…>` tags.
        let prompt = ExtraNetworkTags(parsing: request.prompt).prompt
        let negative = ExtraNetworkTags(parsing: request.negativePrompt).prompt
        let asked = ConditioningRequest(prompt: prompt, negativePrompt: guided ? negative : nil,
                                        clipSkip: request.clipSkip, width: width, height: height,
                                        embeddings: EmbeddingLibrary(folder: folder))
        guard let used = try? model.conditioner.embeddings(usedBy: asked), !used.isEmpty else { return nil }
        return used.map { embedding in
            let name = embedding.name.replacingOccurrences(of: ":", with: "").replacingOccurrences(of: ",", with: "")
            return "\(name): \(embedding.shortHash)"
        }.joined(separator: ", ")
    }
}
