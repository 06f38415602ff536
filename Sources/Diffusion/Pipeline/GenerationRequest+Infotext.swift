import Foundation

extension Infotext {
    /// The text stipple writes for `image` made with `model` (A1111's field names and order):
    /// `Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model hash, Model, Denoising
    /// strength, Clip skip, Eta DDIM, RNG, TI hashes, Version`, plus stipple's `Timestep spacing`, and SDXL's
    /// `Original size` and `Crop top left` when they are not the image's own. The sampler is written under A1111's name
    /// (`Euler a`, `DPM++ 2M`), `default` resolved to the model's own class.
    public init(image: GeneratedImage, model: StableDiffusionModel, modelHash: String?, version: String) {
        self.init(request: image.request, seed: image.seed, width: image.image.width, height: image.image.height,
                  model: model, modelHash: modelHash, version: version, loraHashes: image.loraHashes)
    }

    /// The text for `image` made on `target` (a server's image: see `init(request:...target:)`).
    public init(image: GeneratedImage, target: ModelTarget, modelHash: String?, version: String) {
        self.init(request: image.request, seed: image.seed, width: image.image.width, height: image.image.height,
                  target: target, modelHash: modelHash, version: version, loraHashes: image.loraHashes)
    }

    /// The text for an image of `width` x `height` made by `request` with `seed` (an intermediate
    /// step's preview, say).
    public init(request: GenerationRequest, seed: UInt64, width: Int, height: Int, model: StableDiffusionModel,
                modelHash: String?, version: String, loraHashes: [NamedHash] = []) {
        self.init(request: request, seed: seed, width: width, height: height, modelName: model.name, family: model.family,
                  sampler: Self.samplerName(request.sampler, model: model), modelHash: modelHash,
                  embeddingHashes: Self.embeddingHashes(request, model: model), version: version, loraHashes: loraHashes)
    }

    /// The text for an image made on `target`. A server's checkpoint is named as the server names
    /// it; its sampler is the request's as it was sent (remote backends resolve `default` first);
    /// a `Backend` field names the server (`ComfyUI 0.8.0`), before `Version`.
    public init(request: GenerationRequest, seed: UInt64, width: Int, height: Int, target: ModelTarget,
                modelHash: String?, version: String, loraHashes: [NamedHash] = []) {
        switch target {
        case .embedded(let model):
            self.init(request: request, seed: seed, width: width, height: height, model: model, modelHash: modelHash,
                      version: version, loraHashes: loraHashes)
        case .remote(let checkpoint):
            self.init(request: request, seed: seed, width: width, height: height, modelName: checkpoint.name,
                      family: checkpoint.family, sampler: request.sampler.displayName ?? request.sampler.rawValue,
                      modelHash: modelHash ?? checkpoint.hash, embeddingHashes: nil, version: version, loraHashes: loraHashes,
                      backend: checkpoint.server)
        }
    }

    private init(request: GenerationRequest, seed: UInt64, width: Int, height: Int, modelName: String, family: ModelFamily,
                 sampler: String, modelHash: String?, embeddingHashes: String?, version: String, loraHashes: [NamedHash],
                 backend: String? = nil) {
        var fields: [(key: String, value: String)] = [("Steps", "\(request.steps)")]
        fields.append(("Sampler", sampler))
        if let schedule = request.schedule.displayName { fields.append(("Schedule type", schedule)) }
        fields.append(("CFG scale", Self.number(request.cfgScale)))
        fields.append(("Seed", "\(seed)"))
        fields.append(("Size", "\(width)x\(height)"))
        if let modelHash { fields.append(("Model hash", modelHash)) }
        fields.append(("Model", modelName))
        if let variation = request.variationSeed, request.variationStrength != 0 {
            fields.append(("Variation seed", "\(variation)"))
            fields.append(("Variation seed strength", Self.number(request.variationStrength)))
        }
        if request.initImage != nil { fields.append(("Denoising strength", Self.number(request.strength))) }
        if request.clipSkip != 1 { fields.append(("Clip skip", "\(request.clipSkip)")) }
        if request.eta != 0 { fields.append(("Eta DDIM", Self.number(request.eta))) }
        // stipple's own fields, only when set (A1111 has no such settings): what `--from` needs
        // to give the same image again.
        if let spacing = request.timestepSpacing { fields.append(("Timestep spacing", spacing.rawValue)) }
        if request.samplingConvention == .kDiffusion { fields.append(("Sampling", "k-diffusion")) }
        if request.decoder == .taesd { fields.append(("Decoder", "TAESD")) }
        let size = request.sizeConditioning
        if family == .sdxl, !size.isDefault {
            let original = (size.originalWidth ?? width, size.originalHeight ?? height)
            fields.append(("Original size", "\(original.0)x\(original.1)"))
            fields.append(("Crop top left", "\(size.cropTop),\(size.cropLeft)"))
        }
        // A1111's names: CPU, or NV for its Philox generator (which A1111 then uses too).
        fields.append(("RNG", request.noiseSource == .gpu ? "NV" : "CPU"))
        // A1111 writes ENSD only when it is not 0; stipple's 0 is ComfyUI's restart at the seed.
        if let delta = request.noiseSeedDelta { fields.append(("ENSD", "\(delta)")) }
        if let hashes = embeddingHashes { fields.append(("TI hashes", hashes)) }
        if !loraHashes.isEmpty {
            // A1111's form: `Lora hashes: "name: 0123456789ab, other: ..."` (quoted: it holds commas).
            fields.append(("Lora hashes", loraHashes.map { "\($0.name): \($0.hash)" }.joined(separator: ", ")))
        }
        if let backend { fields.append(("Backend", backend)) }
        fields.append(("Version", version))
        self.init(prompt: request.prompt, negativePrompt: request.negativePrompt, fields: fields)
    }

    /// A1111's display name of a sampler (`Euler a`), stipple's own name where A1111 has none.
    static func samplerName(_ name: SamplerName, model: StableDiffusionModel) -> String {
        let sampler = (try? name.resolved(for: model.scheduler)) ?? name
        return sampler.displayName ?? sampler.rawValue
    }

    /// 7 rather than 7.0; 7.5 as is.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

extension GenerationRequest {
    /// The request an image's parameters describe (ours or A1111's): prompt, negative prompt,
    /// steps, sampler (A1111 names, a ` Karras` suffix or `Schedule type`), CFG scale, seed,
    /// size, denoising strength, clip skip, eta. Fields it does not know are ignored; `warnings`
    /// lists what cannot be reproduced (A1111's default GPU noise, hires fix, ...).
    public init(infotext: Infotext) throws(GenerationError) {
        self.init(prompt: infotext.prompt)
        negativePrompt = infotext.negativePrompt
        if let hashes = infotext["Lora hashes"] { recordedLoRAHashes = Self.namedHashes(hashes) }
        skipsMissingLoRAs = true
        // A1111 writes no RNG field for its default GPU source; NV is its Philox imitation of it.
        switch infotext["RNG"]?.uppercased() {
        case nil, "GPU", "NV": noiseSource = .gpu
        default: noiseSource = .cpu
        }
        // Which samplers made the image: the text's own `Sampling` field (stipple's; InvokeAI's
        // converted text), else k-diffusion for A1111's and the other tools' built on it (its
        // Automatic schedule is k-diffusion's uniform one), diffusers' for stipple's.
        guard let convention = Self.samplingConvention(of: infotext) else {
            throw .invalid("the image's Sampling \(GenerationLimits.shown(infotext["Sampling"] ?? "")) is not diffusers or k-diffusion")
        }
        samplingConvention = convention
        /// The field `key` read by `rule` (nil when absent): `Steps: nan`, `Clip skip: inf` or
        /// `Steps: 1e300` are refused with the rule's message, never converted.
        func value<T>(_ key: String, _ read: (String) throws(SettingError) -> T) throws(GenerationError) -> T? {
            guard let text = infotext[key] else { return nil }
            do {
                return try read(text)
            } catch {
                throw .invalid("the image's \(key): \(error.description)")
            }
        }
        if let steps = try value("Steps", GenerationLimits.steps.integer) { self.steps = steps }
        // A sampler or schedule stipple lacks (A1111's Restart, Beta) leaves the default, with a
        // line from `warnings(for:)`: the rest of the image's settings still run.
        if let sampler = infotext["Sampler"], let choice = try? SamplerChoice(parsing: sampler) {
            setSampler(choice)
        }
        // A1111 1.9+ writes the schedule here, older versions in the sampler's name; `Automatic`
        // leaves a ` Karras` name's schedule as it is.
        if let type = infotext["Schedule type"], Self.isSGMUniform(type) {
            // A1111/Forge's "SGM Uniform" (what SDXL-Lightning and -Turbo are run with there):
            // evenly spaced timesteps from the last; diffusers' trailing spacing (see warnings).
            timestepSpacing = .trailing
        } else if let type = infotext["Schedule type"], let parsed = try? SigmaSchedule(parsing: type),
                  parsed != .model, sampler.supports(parsed, convention: samplingConvention) {
            schedule = parsed
        }

        if let cfg = try value("CFG scale", GenerationLimits.cfgScale.number) { cfgScale = cfg }
        if let seed = try value("Seed", GenerationLimits.seed) { self.seed = seed }
        if case let variation?? = try value("Variation seed", GenerationLimits.seed) {
            variationSeed = variation
            variationStrength = try value("Variation seed strength", GenerationLimits.variationStrength.number) ?? 0
        }
        if case let delta?? = try value("ENSD", GenerationLimits.seed) { noiseSeedDelta = delta }
        if let size = infotext["Size"] {
            let parts = size.split(separator: "x", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw .invalid("the image's Size \(GenerationLimits.shown(size)) is not WIDTHxHEIGHT") }
            width = try value("Size", { _ throws(SettingError) in try GenerationLimits.width.integer(parts[0]) })
            height = try value("Size", { _ throws(SettingError) in try GenerationLimits.height.integer(parts[1]) })
        }
        if let strength = try value("Denoising strength", GenerationLimits.strength.number) { self.strength = strength }
        // Clip skip's upper end depends on the model: GenerationRequest.validate checks it.
        if let skip = try value("Clip skip", GenerationLimits.clipSkip(layers: 1000).integer) { clipSkip = skip }
        if let eta = try value("Eta DDIM", GenerationLimits.eta.number) { self.eta = eta }
        if let decoder = infotext["Decoder"] {
            guard let parsed = ImageDecoder(rawValue: decoder.lowercased()) else {
                throw .invalid("the image's Decoder \(GenerationLimits.shown(decoder)) is not VAE or TAESD")
            }
            self.decoder = parsed
        }
        if let spacing = infotext["Timestep spacing"] {
            guard let parsed = TimestepSpacing(rawValue: spacing.lowercased()) else {
                throw .invalid("the image's timestep spacing \(GenerationLimits.shown(spacing)) is not leading, linspace or trailing")
            }
            timestepSpacing = parsed
        }
        if let original = infotext["Original size"] {
            do {
                let size = try SizeConditioning.parseSize(original)
                (sizeConditioning.originalWidth, sizeConditioning.originalHeight) = (size.width, size.height)
            } catch {
                throw .invalid("the image's Original size: \(error.description)")
            }
        }
        if let crop = infotext["Crop top left"] {
            do {
                let corner = try SizeConditioning.parseCorner(crop)
                (sizeConditioning.cropTop, sizeConditioning.cropLeft) = (corner.top, corner.left)
            } catch {
                throw .invalid("the image's Crop top left: \(error.description)")
            }
        }
    }

    /// A1111/Forge's "SGM Uniform" schedule type, in any case, `_` for the space (ComfyUI's name).
    static func isSGMUniform(_ type: String) -> Bool {
        type.lowercased().replacingOccurrences(of: "_", with: " ") == "sgm uniform"
    }

    /// The samplers a text says made the image: its `Sampling` field, else k-diffusion's for A1111's
    /// text and the other tools' built on k-diffusion, diffusers' for stipple's; nil for a
    /// `Sampling` value that is neither.
    static func samplingConvention(of infotext: Infotext) -> SamplingConvention? {
        if let field = infotext["Sampling"] { return SamplingConvention(rawValue: field.lowercased()) }
        return isFromA1111(infotext) ? .kDiffusion : .diffusers
    }

    /// Whether the text comes from A1111 or a tool writing its fields (Forge, SD.Next, a converted
    /// ComfyUI graph), not from stipple, whose `Version` starts with `stipple`.
    static func isFromA1111(_ infotext: Infotext) -> Bool {
        !(infotext["Version"]?.lowercased().hasPrefix("stipple") ?? false)
    }

    /// A1111's `name: hash, name: hash` list (`Lora hashes`); entries without a colon are skipped.
    static func namedHashes(_ text: String) -> [NamedHash] {
        text.split(separator: ",").compactMap { entry in
            guard let colon = entry.lastIndex(of: ":") else { return nil }
            let name = entry[..<colon].trimmingCharacters(in: .whitespaces)
            let hash = entry[entry.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            return name.isEmpty || hash.isEmpty ? nil : NamedHash(name: name, hash: hash)
        }
    }

    /// What `init(infotext:)` cannot reproduce from these parameters, one line each.
    public static func warnings(for infotext: Infotext) -> [String] {
        var warnings: [String] = []
        switch infotext["RNG"]?.uppercased() {
        case "CPU": break
        case "NV": break
        case nil, "GPU": warnings.append("the image used A1111's GPU noise (its default RNG): stipple draws it with A1111's Philox "
                                         + "generator, which equals it on NVIDIA cards (not on AMD or Apple ones)")
        case let other?: warnings.append("the image used RNG \(other); stipple draws torch's CPU noise, so the image will differ")
        }
        if let type = infotext["Schedule type"], Self.isSGMUniform(type) {
            warnings.append("Schedule type SGM Uniform is run as trailing timestep spacing (its timesteps rounded to whole steps), "
                            + "so the image may differ slightly")
        }
        if let sampler = infotext["Sampler"], (try? SamplerChoice(parsing: sampler)) == nil {
            let known = SamplerName.allCases.compactMap(\.displayName).joined(separator: ", ")
            warnings.append("sampler \(GenerationLimits.shown(sampler)) is not one stipple has (\(known)); using the model's default sampler, "
                            + "so the image will differ")
        }
        if let type = infotext["Schedule type"], !isSGMUniform(type),
           (try? SigmaSchedule(parsing: type)) == nil {
            let known = SigmaSchedule.allCases.compactMap(\.displayName).joined(separator: ", ")
            warnings.append("Schedule type \(GenerationLimits.shown(type)) is not one stipple has (\(known)); using the sampler's default, "
                            + "so the image will differ")
        }
        if let type = infotext["Schedule type"], let parsed = try? SigmaSchedule(parsing: type), parsed != .model,
           let sampler = infotext["Sampler"].flatMap({ try? SamplerChoice(parsing: $0).sampler }),
           !sampler.supports(parsed, convention: samplingConvention(of: infotext) ?? .diffusers) {
            warnings.append("Schedule type \(type) with sampler \(sampler.displayName ?? sampler.rawValue) is not one stipple has; "
                            + "using the model's own schedule, so the image will differ")
        }
        for key in ["Hires upscale", "Hires steps", "Seed resize from", "Face restoration", "Refiner"] where infotext[key] != nil {
            warnings.append("\(key) is not supported and is ignored")
        }
        return warnings
    }
}
