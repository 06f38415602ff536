import Diffusion
import Foundation

/// The studio's parameter panel: the generation settings as a list of fields a person moves
/// through with up/down and changes with left/right (or by typing a value), turned into a
/// `GenerationRequest` when Enter starts a generation.
public struct ParameterPanel: Sendable, Equatable {
    /// The fields, in the order shown.
    public enum Field: String, CaseIterable, Sendable {
        case model, sampler, schedule, spacing, steps, cfg, seed, seedLock, size, width, height, batch, initImage, strength, preview,
             decoder

        public var label: String {
            switch self {
            case .model: "Model"
            case .sampler: "Sampler"
            case .schedule: "Schedule"
            case .spacing: "Spacing"
            case .steps: "Steps"
            case .cfg: "CFG"
            case .seed: "Seed"
            case .seedLock: "Seed lock"
            case .size: "Size"
            case .width: "Width"
            case .height: "Height"
            case .batch: "Batch"
            case .initImage: "Init image"
            case .strength: "Strength"
            case .preview: "Preview"
            case .decoder: "Decoder"
            }
        }
    }

    /// The loaded model's name (typing a path into the field and Enter loads another; Left/Right
    /// load the next of `modelChoices`).
    public var modelName = ""
    /// The models Left/Right on the Model field go through (paths): the bundled models.
    public var modelChoices: [String] = []
    /// Whether the loaded model is a flow-matching one: the Sampler field then offers its own
    /// (model's) sampler and `flow_euler` only.
    public var flowModel = false
    /// The steps, CFG, sampler and schedule the loaded model is meant to run at: its
    /// `stipple_defaults.json` over the general defaults. Loading another model changes only the
    /// fields still at these values (`setModelDefaults`).
    public var modelSettings = ModelSettings(nil)
    /// The loaded model's family (shown beside its name) and the sizes its Size field offers.
    public var family: ModelFamily?
    public var nativeSize = 512
    public var presetSizes: [(width: Int, height: Int)] { ModelFamily.presetSizes(nativeSize: nativeSize) }
    public var sampler: SamplerName = .default
    public var schedule: SigmaSchedule = .model
    public var steps = 20
    public var cfgScale = 7.0
    /// The seed shown; with `seedLocked` false a new random seed is drawn for each generation.
    public var seed: UInt64 = 0
    public var seedLocked = false
    public var width: Int
    public var height: Int
    public var batchCount = 1
    /// img2img: the init image's path; empty for txt2img.
    public var initImage = ""
    public var strength = 0.75
    public var preview: PreviewMode = .approx
    /// What decodes the final image (TAESD only with a tiny decoder).
    public var decoder: ImageDecoder = .vae
    /// What the few-step preset and the TAESD choices read of the loaded model.
    public var model = FewStepPreset.Model(name: "")
    /// The preset's fields as they were before the few-step key set them, kept for the key to
    /// put back (`toggleFewStepPreset`).
    public var beforePreset: PresetFields?
    /// The timestep spacing; nil keeps the model scheduler's (`trailing` for SDXL-Turbo/-Lightning).
    public var timestepSpacing: TimestepSpacing?
    /// Settings without a field of their own, kept from the command line or a loaded image and
    /// passed on: A1111's clip skip, DDIM's eta, SDXL's size conditioning.
    public var clipSkip = 1
    public var eta = 0.0
    public var sizeConditioning = SizeConditioning()
    /// What every request starts from: the command line's and the config file's settings that
    /// have no field here (the LoRA and embeddings folders, VAE tiling, and whatever else a request
    /// carries), passed on as they are; loading an image's parameters leaves them.
    public var base = GenerationRequest(prompt: "")
    /// Where `<lora:NAME:W>` files are found (`--lora-dir`, `lora_dir`): what F7 lists.
    public var loraFolder: String? {
        get { base.loraFolder }
        set { base.loraFolder = newValue }
    }
    /// `full` previews decode every this many steps.
    public var fullPreviewInterval = 5
    /// The selected field.
    public var selected: Field = .sampler
    /// Text typed into the selected field, not yet applied (Enter applies, Esc drops).
    public var typing: String?

    /// Samplers offered, in order (`default` first), for diffusion models.
    public static let samplers = [SamplerName.default] + SamplerName.allCases.filter { $0 != .default && $0 != .flowEuler }
    /// Samplers offered for the loaded model.
    public var samplersOffered: [SamplerName] { flowModel ? [.default, .flowEuler] : Self.samplers }
    public static let schedules = SigmaSchedule.allCases
    /// Spacings offered: the model's own (nil), then each kind.
    public static let spacings: [TimestepSpacing?] = [nil] + TimestepSpacing.allCases.map { $0 }

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// The value of `field` as shown.
    public func value(_ field: Field) -> String {
        switch field {
        case .model where modelName.isEmpty: "(the server's: not known yet)"
        case .model: family.map { "\(modelName) (\($0.shortName))" } ?? modelName
        case .size: sizeLabel
        case .sampler: sampler.displayName ?? sampler.rawValue
        case .schedule: schedule.rawValue
        case .spacing: timestepSpacing?.rawValue ?? "model's"
        case .steps: "\(steps)"
        case .cfg: cfgScale == cfgScale.rounded() ? String(Int(cfgScale)) : String(format: "%.1f", cfgScale)
        case .seed: "\(seed)"
        case .seedLock: seedLocked ? "locked" : "random"
        case .width: "\(width)"
        case .height: "\(height)"
        case .batch: "\(batchCount)"
        case .initImage: initImage.isEmpty ? "none" : initImage
        case .strength: String(format: "%.2f", strength)
        case .preview: preview.rawValue
        case .decoder: model.hasTinyDecoder ? decoder.rawValue : "\(decoder.rawValue) (no tiny decoder)"
        }
    }

    /// Previews offered: TAESD only with a tiny decoder.
    public var previews: [PreviewMode] { PreviewMode.allCases.filter { $0 != .taesd || model.hasTinyDecoder } }

    /// Why TAESD cannot be chosen for a model without a tiny decoder.
    public static let noTinyDecoder = "this model has no tiny decoder (TAESD): start with --taesd PATH, or put one in the model folder's taesd/"

    /// `WxH (a:b)` when width and height are one of the offered sizes, else `WxH custom`.
    var sizeLabel: String {
        guard presetSizes.contains(where: { $0 == (width, height) }) else { return "\(width)x\(height) custom" }
        let divisor = Self.greatestCommonDivisor(width, height)
        return "\(width)x\(height) (\(width / divisor):\(height / divisor))"
    }

    static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
        b == 0 ? max(a, 1) : greatestCommonDivisor(b, a % b)
    }

    /// The model loaded: its name, family and sizes; the size becomes its native one.
    public mutating func setModel(name: String, family: ModelFamily, nativeSize: Int) {
        modelName = name
        self.family = family
        self.nativeSize = nativeSize
        (width, height) = (nativeSize, nativeSize)
    }

    /// The model loaded, with what the few-step preset and the TAESD choices read of it. Without a
    /// tiny decoder, TAESD previews become approx and a TAESD decode the VAE's; returns what
    /// changed so, for the status line.
    @discardableResult
    public mutating func setModel(_ loaded: StableDiffusionModel) -> String? {
        setModel(ModelTarget.embedded(loaded))
    }

    /// `setModel(_:)` for a loaded model or a server's checkpoint.
    @discardableResult
    public mutating func setModel(_ target: ModelTarget) -> String? {
        setModel(name: target.name, family: target.family, nativeSize: target.nativeSize)
        flowModel = target.embedded?.parameterisation.isFlow ?? false
        return setModel(target.fewStepTraits)
    }

    /// The settings a model is meant to run at: `ModelDefaults` over `GenerationRequest`'s own.
    public struct ModelSettings: Sendable, Equatable {
        public var steps: Int
        public var cfgScale: Double
        public var sampler: SamplerName
        public var schedule: SigmaSchedule

        public init(_ defaults: ModelDefaults?) {
            var request = GenerationRequest(prompt: "")
            defaults?.apply(to: &request)
            (steps, cfgScale, sampler, schedule) = (request.steps, request.cfgScale, request.sampler, request.schedule)
        }
    }

    /// A model was loaded whose own settings are `defaults`: each of steps, CFG, sampler and
    /// schedule still at the last model's setting becomes the new model's (a value the person chose
    /// stays), and a sampler of the wrong kind (a diffusion sampler on a flow model, or the reverse)
    /// becomes the model's own. Returns what changed ("4 steps, CFG 1.5"), nil when nothing did.
    @discardableResult
    public mutating func setModelDefaults(_ defaults: ModelDefaults?) -> String? {
        let (old, new) = (modelSettings, ModelSettings(defaults))
        modelSettings = new
        var changed: [String] = []
        if sampler == old.sampler || !samplersOffered.contains(sampler), sampler != new.sampler {
            sampler = samplersOffered.contains(new.sampler) ? new.sampler : .default
            changed.append("sampler \(sampler.rawValue)")
        }
        if schedule == old.schedule, schedule != new.schedule {
            schedule = new.schedule
            changed.append("\(schedule.rawValue) schedule")
        }
        if steps == old.steps, steps != new.steps {
            steps = new.steps
            changed.append("\(steps) step\(steps == 1 ? "" : "s")")
        }
        if cfgScale == old.cfgScale, cfgScale != new.cfgScale {
            cfgScale = new.cfgScale
            changed.append("CFG " + value(.cfg))
        }
        return changed.isEmpty ? nil : changed.joined(separator: ", ")
    }

    /// `setModel(_:)`'s part that needs no weights (tests).
    @discardableResult
    public mutating func setModel(_ traits: FewStepPreset.Model) -> String? {
        model = traits
        guard !traits.hasTinyDecoder, preview == .taesd || decoder == .taesd else { return nil }
        var changed: [String] = []
        if preview == .taesd { (preview, changed) = (.approx, changed + ["previews approx"]) }
        if decoder == .taesd { (decoder, changed) = (.vae, changed + ["decoder vae"]) }
        return "no tiny decoder: " + changed.joined(separator: ", ")
    }

    // MARK: Moving and changing

    public mutating func selectNext() { move(by: 1) }
    public mutating func selectPrevious() { move(by: -1) }

    private mutating func move(by step: Int) {
        let all = Field.allCases
        let index = all.firstIndex(of: selected)!
        selected = all[(index + step + all.count) % all.count]
        typing = nil
    }

    /// Left/right on the selected field: the previous/next choice, or the number stepped; returns
    /// why not where the field has no other choice (TAESD without a tiny decoder).
    @discardableResult
    public mutating func adjust(by direction: Int) -> String? {
        typing = nil
        switch selected {
        case .sampler: sampler = Self.cycle(samplersOffered, from: sampler, by: direction)
        case .schedule: schedule = Self.cycle(Self.schedules, from: schedule, by: direction)
        case .spacing: timestepSpacing = Self.cycle(Self.spacings, from: timestepSpacing, by: direction)
        case .steps: steps = GenerationLimits.steps.clamped(steps + direction)
        case .cfg: cfgScale = GenerationLimits.cfgScale.clamped(((cfgScale + 0.5 * Double(direction)) * 2).rounded() / 2)
        case .seed: seed = direction > 0 ? seed &+ 1 : seed &- 1
        case .seedLock: seedLocked.toggle()
        case .size:
            // The next offered size; from a custom size, the first (the native square).
            let sizes = presetSizes
            let index = sizes.firstIndex { $0 == (width, height) }
            let next = index.map { (($0 + direction) % sizes.count + sizes.count) % sizes.count } ?? 0
            if sizes.indices.contains(next) { (width, height) = sizes[next] }
        case .width: width = GenerationLimits.width.clamped(width + 8 * direction)
        case .height: height = GenerationLimits.height.clamped(height + 8 * direction)
        case .batch: batchCount = GenerationLimits.batchCount.clamped(batchCount + direction)
        case .initImage, .model: break
        case .strength: strength = min(1, max(0.05, ((strength + 0.05 * Double(direction)) * 20).rounded() / 20))
        case .preview: preview = Self.cycle(previews, from: preview, by: direction)
        case .decoder:
            guard model.hasTinyDecoder else { return Self.noTinyDecoder }
            decoder = Self.cycle(ImageDecoder.allCases, from: decoder, by: direction)
        }
        return nil
    }

    /// The choice `direction` places after `current` in `choices`, wrapping around (from the
    /// first when `current` is not offered: `flow_euler` loaded from an image).
    static func cycle<Choice: Equatable>(_ choices: [Choice], from current: Choice, by direction: Int) -> Choice {
        let index = choices.firstIndex(of: current) ?? 0
        return choices[((index + direction) % choices.count + choices.count) % choices.count]
    }

    /// Typing into the selected field (numbers and the init image path).
    public mutating func type(_ character: Character) {
        typing = (typing ?? "") + String(character)
    }

    public mutating func deleteTyped() {
        guard var text = typing, !text.isEmpty else { return }
        text.removeLast()
        typing = text
    }

    /// Applies typed text to the selected field; returns a one-line problem when it does not fit.
    public mutating func applyTyped() -> String? {
        guard let text = typing?.trimmingCharacters(in: .whitespaces) else { return nil }
        typing = nil
        /// The typed text read by `read` (a rule of `GenerationLimits`), or the rule's message.
        func apply<T>(_ read: (String) throws(SettingError) -> T, _ set: (T) -> Void) -> String? {
            do {
                set(try read(text))
                return nil
            } catch {
                return error.description
            }
        }
        switch selected {
        case .steps: return apply(GenerationLimits.steps.integer) { steps = $0 }
        case .batch: return apply(GenerationLimits.batchCount.integer) { batchCount = $0 }
        case .width: return apply(GenerationLimits.width.integer) { width = $0 }
        case .height: return apply(GenerationLimits.height.integer) { height = $0 }
        case .cfg: return apply(GenerationLimits.cfgScale.number) { cfgScale = $0 }
        case .strength: return apply(GenerationLimits.strength.number) { strength = $0 }
        case .seed:
            return apply(GenerationLimits.seed) { value in
                if let value {
                    seed = value
                    seedLocked = true
                } else {
                    seedLocked = false
                }
            }
        case .initImage:
            initImage = text
            return nil
        case .sampler:
            guard let choice = try? SamplerChoice(parsing: text) else { return "unknown sampler \(text)" }
            choice.apply(sampler: &sampler, schedule: &schedule)
            return nil
        case .schedule:
            guard let named = try? SigmaSchedule(parsing: text) else { return "unknown schedule \(text)" }
            schedule = named
            return nil
        case .size:
            let parts = text.lowercased().split(separator: "x").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let w = parts[0], let h = parts[1] else { return "size must be WIDTHxHEIGHT, e.g. 1216x832" }
            do {
                (width, height) = (try GenerationLimits.width.check(w), try GenerationLimits.height.check(h))
                return nil
            } catch {
                return error.description
            }
        case .spacing:
            let name = text.lowercased()
            guard name.isEmpty || name == "model's" || name == "model" || TimestepSpacing(rawValue: name) != nil else {
                return "unknown timestep spacing \(text) (leading, linspace, trailing, or empty for the model's)"
            }
            timestepSpacing = TimestepSpacing(rawValue: name)
            return nil
        case .preview:
            guard let mode = PreviewMode(rawValue: text.lowercased()) else {
                return "unknown preview \(text) (\(previews.map(\.rawValue).joined(separator: ", ")))"
            }
            guard previews.contains(mode) else { return Self.noTinyDecoder }
            preview = mode
            return nil
        case .decoder:
            guard let named = ImageDecoder(rawValue: text.lowercased()) else { return "unknown decoder \(text) (vae or taesd)" }
            guard named == .vae || model.hasTinyDecoder else { return Self.noTinyDecoder }
            decoder = named
            return nil
        case .seedLock, .model:
            return nil
        }
    }

    // MARK: Requests

    /// The request for `prompt` and `negative` with these settings; draws a new seed unless the
    /// seed is locked (the drawn seed is kept, so it shows and can be locked).
    public mutating func request(prompt: String, negative: String) -> GenerationRequest {
        if !seedLocked { seed = UInt64(UInt32.random(in: 0...UInt32.max)) }
        var request = base
        request.prompt = prompt
        request.initImage = nil  // the controller reads the Init image field's file
        request.negativePrompt = negative
        request.sampler = sampler
        request.schedule = schedule
        request.steps = steps
        request.cfgScale = cfgScale
        request.seed = seed
        request.width = width
        request.height = height
        request.batchCount = batchCount
        request.strength = strength
        request.preview = preview
        request.decoder = decoder
        request.fullPreviewInterval = fullPreviewInterval
        request.timestepSpacing = timestepSpacing
        request.clipSkip = clipSkip
        request.eta = eta
        request.sizeConditioning = sizeConditioning
        return request
    }

    /// Takes the settings of `request` (an image's parameters loaded back, or the command line's).
    public mutating func load(_ request: GenerationRequest) {
        sampler = request.sampler
        schedule = request.schedule
        steps = request.steps
        cfgScale = request.cfgScale
        if let seed = request.seed {
            self.seed = seed
            seedLocked = true
        }
        if let width = request.width { self.width = width }
        if let height = request.height { self.height = height }
        batchCount = request.batchCount
        strength = request.strength
        timestepSpacing = request.timestepSpacing
        clipSkip = request.clipSkip
        eta = request.eta
        sizeConditioning = request.sizeConditioning
        if request.decoder == .vae || model.hasTinyDecoder { decoder = request.decoder }
        // What made the noise and how the sampler ran have no field here: they ride in `base`, so an
        // A1111 image loaded back (its GPU noise, variation seed, ENSD, k-diffusion samplers) runs as
        // `generate --from` runs it.
        base.noiseSource = request.noiseSource
        base.variationSeed = request.variationSeed
        base.variationStrength = request.variationStrength
        base.noiseSeedDelta = request.noiseSeedDelta
        base.samplingConvention = request.samplingConvention
        base.skipsMissingLoRAs = request.skipsMissingLoRAs
    }

    // MARK: The few-step preset

    /// The fields the few-step preset sets.
    public struct PresetFields: Sendable, Equatable {
        public var sampler: SamplerName
        public var schedule: SigmaSchedule
        public var timestepSpacing: TimestepSpacing?
        public var steps: Int
        public var cfgScale: Double
        public var preview: PreviewMode
        public var decoder: ImageDecoder
    }

    public var presetFields: PresetFields {
        get { PresetFields(sampler: sampler, schedule: schedule, timestepSpacing: timestepSpacing, steps: steps, cfgScale: cfgScale,
                           preview: preview, decoder: decoder) }
        set { (sampler, schedule, timestepSpacing, steps, cfgScale, preview, decoder)
                = (newValue.sampler, newValue.schedule, newValue.timestepSpacing, newValue.steps, newValue.cfgScale,
                   newValue.preview, newValue.decoder) }
    }

    /// What the few-step key did.
    public enum PresetToggle: Equatable, Sendable {
        /// The preset's settings were set (the fields before kept in `beforePreset`).
        case applied(FewStepPreset)
        /// The fields before the preset were put back.
        case restored(PresetFields)
    }

    /// The few-step key: sets the preset for the loaded model and `prompt`, keeping the fields it
    /// replaces; pressed again while the panel still shows the preset, puts them back. After a
    /// preset field was changed by hand (or another model loaded) it sets the preset again.
    public mutating func toggleFewStepPreset(prompt: String) -> PresetToggle {
        typing = nil
        let preset = FewStepPreset(model: model, prompt: prompt)
        var withPreset = self
        withPreset.apply(preset)
        if let before = beforePreset, withPreset.presetFields == presetFields {
            presetFields = before
            beforePreset = nil
            return .restored(before)
        }
        beforePreset = presetFields
        apply(preset)
        return .applied(preset)
    }

    mutating func apply(_ preset: FewStepPreset) {
        sampler = preset.sampler
        schedule = preset.schedule
        timestepSpacing = preset.timestepSpacing
        steps = preset.steps
        cfgScale = preset.cfgScale
        if let preview = preset.preview { self.preview = preview }
        if let decoder = preset.decoder { self.decoder = decoder }
    }
}
