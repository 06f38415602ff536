import Foundation

/// The settings of the few-step path for a model and a prompt, so a person need not know them
/// (the studio's few-step key, `stipple generate --preset few-step`):
///
/// - an LCM-distilled UNet (`Denoiser.embedsGuidance`: `time_cond_proj_dim`): the `lcm` sampler,
///   4 steps, CFG 8.5, diffusers' `LatentConsistencyModelPipeline` defaults (the scale is an input
///   of the UNet, not classifier-free guidance: one pass a step whatever it is), or the steps and
///   CFG of the model's own `stipple_defaults.json` where it gives them (`shapes-64-lcm`: 2 steps,
///   CFG 2; its range of w was 0.5 to 1.5, so 8.5 is far outside what it learned);
/// - a Turbo model (SD-Turbo, SDXL-Turbo), told by `turbo` in the model's name or the two folders
///   above it (any case; the weights do not say it, and a Hugging Face cache names the snapshot
///   folder by a hash): `euler_a`, 1 step, CFG 0, `trailing` spacing, as Stability's model cards
///   run them;
/// - otherwise an LCM-LoRA is expected in the prompt (`<lora:lcm-lora-sdv1-5:1>`): `lcm`, 4 steps,
///   CFG 1 (the LCM-LoRA model cards' settings; CFG 1 is one pass a step).
///
/// The schedule becomes the model's (`lcm` and `euler_a` take no other); LCM picks its own
/// timesteps from its distillation schedule, so the spacing becomes the model's too. When the
/// model has a tiny decoder, previews and the final decode become TAESD; otherwise they are left.
public struct FewStepPreset: Sendable, Equatable {
    /// What the preset reads of a model (a loaded one: `init(_:)`).
    public struct Model: Sendable, Equatable {
        public var name: String
        public var path: String
        /// An LCM-distilled UNet: the guidance scale is one of its inputs.
        public var embedsGuidance: Bool
        /// A tiny decoder (TAESD) is loaded with it.
        public var hasTinyDecoder: Bool
        /// The model's own settings (`stipple_defaults.json`): an LCM model's steps and CFG win over
        /// the general LCM ones.
        public var recommended: ModelDefaults?

        public init(name: String, path: String = "", embedsGuidance: Bool = false, hasTinyDecoder: Bool = false,
                    recommended: ModelDefaults? = nil) {
            (self.name, self.path, self.embedsGuidance, self.hasTinyDecoder) = (name, path, embedsGuidance, hasTinyDecoder)
            self.recommended = recommended
        }

        /// A loaded model's traits. A settings file that cannot be read counts as none here: loading
        /// the model reported it already.
        public init(_ model: StableDiffusionModel) {
            self.init(name: model.name, path: model.path, embedsGuidance: model.denoiser.embedsGuidance,
                      hasTinyDecoder: model.tinyDecoder != nil, recommended: try? model.recommendedSettings())
        }

        /// `turbo` in the name, or in the path's last three parts (a Hugging Face cache's
        /// `models--stabilityai--sd-turbo/snapshots/HASH`); folders higher up do not count.
        public var isTurbo: Bool {
            ([name] + URL(fileURLWithPath: path).pathComponents.suffix(3)).contains { $0.lowercased().contains("turbo") }
        }
    }

    /// Which few-step path the model takes.
    public enum Kind: String, Sendable {
        case lcmModel = "LCM model"
        case turbo = "Turbo model"
        case lcmLoRA = "LCM-LoRA"
    }

    public let kind: Kind
    public let sampler: SamplerName
    public let schedule: SigmaSchedule
    public let steps: Int
    public let cfgScale: Double
    /// nil: the model scheduler's own.
    public let timestepSpacing: TimestepSpacing?
    /// `.taesd` with a tiny decoder; nil leaves the previews as they are.
    public let preview: PreviewMode?
    /// `.taesd` with a tiny decoder; nil leaves the decoder as it is.
    public let decoder: ImageDecoder?
    /// Something the person should know, from the prompt: an LCM-LoRA missing (or not needed).
    public let note: String?

    public init(model: Model, prompt: String) {
        let loras = Self.loraNames(in: prompt)
        let lcmLoRAs = loras.filter { $0.lowercased().contains("lcm") }
        if model.embedsGuidance {
            (kind, sampler, steps, cfgScale, timestepSpacing) = (.lcmModel, .lcm, model.recommended?.steps ?? 4,
                                                                 model.recommended?.cfgScale ?? 8.5, nil)
        } else if model.isTurbo {
            (kind, sampler, steps, cfgScale, timestepSpacing) = (.turbo, .eulerA, 1, 0, .trailing)
        } else {
            (kind, sampler, steps, cfgScale, timestepSpacing) = (.lcmLoRA, .lcm, 4, 1, nil)
        }
        schedule = .model
        preview = model.hasTinyDecoder ? .taesd : nil
        decoder = model.hasTinyDecoder ? .taesd : nil
        switch kind {
        case .lcmLoRA where lcmLoRAs.isEmpty:
            note = "no LCM-LoRA in the prompt: 4 steps at CFG 1 stay blurry without one"
        case .lcmModel where !lcmLoRAs.isEmpty, .turbo where !lcmLoRAs.isEmpty:
            note = "the model is distilled already: \(lcmLoRAs.joined(separator: ", ")) in the prompt is not needed"
        default:
            note = nil
        }
    }

    public init(model: StableDiffusionModel, prompt: String) {
        self.init(model: Model(model), prompt: prompt)
    }

    /// Sets the preset's settings in `request` (the rest stays).
    public func apply(to request: inout GenerationRequest) {
        request.sampler = sampler
        request.schedule = schedule
        request.steps = steps
        request.cfgScale = cfgScale
        request.timestepSpacing = timestepSpacing
        if let preview { request.preview = preview }
        if let decoder { request.decoder = decoder }
    }

    /// One line for people: "LCM-LoRA: lcm, 4 steps, CFG 1, TAESD" (TAESD: previews and decode).
    public var summary: String {
        var parts = [sampler.rawValue, "\(steps) step\(steps == 1 ? "" : "s")", "CFG " + Self.format(cfgScale)]
        if let timestepSpacing { parts.append("\(timestepSpacing.rawValue) spacing") }
        if preview == .taesd && decoder == .taesd { parts.append("TAESD") }
        return "\(kind.rawValue): " + parts.joined(separator: ", ")
    }

    /// The names of the `<lora:NAME…>` tags in `prompt`, as the pipeline reads them (`ExtraNetworkTags`).
    public static func loraNames(in prompt: String) -> [String] {
        ExtraNetworkTags(parsing: prompt).loras.map(\.name)
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
