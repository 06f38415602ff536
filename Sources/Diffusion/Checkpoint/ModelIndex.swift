import Foundation
import UserFiles

/// The parts of a diffusers folder's `model_index.json` that decide how it loads: the pipeline
/// class, which components it has (a component set to `[null, null]` is absent), and the SDXL
/// pipeline settings `force_zeros_for_empty_prompt` and `requires_aesthetics_score`.
struct ModelIndex {
    /// `_class_name`, e.g. `StableDiffusionXLPipeline`; empty when not given.
    var className = ""
    /// Components named with a class (`"unet": ["diffusers", "UNet2DConditionModel"]`).
    var components: Set<String> = []
    /// SDXL: an empty negative prompt is zeros (diffusers' default true).
    var forceZerosForEmptyPrompt = true
    /// SDXL refiner: the UNet is conditioned on an aesthetic score instead of the target size.
    var requiresAestheticsScore = false

    /// Reads `path`; errors name it.
    init(path: String) throws(CheckpointError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: try UserFile.read(path))
        } catch let error as UserFile.Problem {
            throw CheckpointError(path: path, reason: .unreadable(error.reason))
        } catch {
            throw CheckpointError(path: path, reason: .invalidConfig("not JSON"))
        }
        guard let entries = object as? [String: Any] else {
            throw CheckpointError(path: path, reason: .invalidConfig("not a JSON object"))
        }
        className = entries["_class_name"] as? String ?? ""
        for (key, value) in entries where !key.hasPrefix("_") {
            if let pair = value as? [Any], pair.count == 2, pair[1] is String { components.insert(key) }
        }
        forceZerosForEmptyPrompt = entries["force_zeros_for_empty_prompt"] as? Bool ?? true
        requiresAestheticsScore = entries["requires_aesthetics_score"] as? Bool ?? false
    }

    /// Whether it is an SDXL-style pipeline: a second text encoder.
    var isSDXL: Bool { components.contains("text_encoder_2") }
}
