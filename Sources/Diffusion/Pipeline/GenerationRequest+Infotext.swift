import Foundation

extension Infotext {
    /// The text stipple writes for `image` made with `model` (A1111's field names and order):
    /// `Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model hash, Model, Denoising
    /// strength, Clip skip, Eta DDIM, RNG, Version`. The sampler is written under A1111's name
    /// (`Euler a`, `DPM++ 2M`), `default` resolved to the model's own class.
    public init(image: GeneratedImage, model: StableDiffusionModel, modelHash: String?, version: String) {
        self.init(request: image.request, seed: image.seed, width: image.image.width, height: image.image.height,
                  model: model, modelHash: modelHash, version: version)
    }

    /// The text for an image of `width` x `height` made by `request` with `seed` (an intermediate
    /// step's preview, say).
    public init(request: GenerationRequest, seed: UInt64, width: Int, height: Int, model: StableDiffusionModel,
                modelHash: String?, version: String) {
        var fields: [(key: String, value: String)] = [("Steps", "\(request.steps)")]
        fields.append(("Sampler", Self.samplerName(request.sampler, model: model)))
        switch SigmaSchedule(rawValue: request.schedule.lowercased()) ?? .model {
        case .karras: fields.append(("Schedule type", "Karras"))
        case .exponential: fields.append(("Schedule type", "Exponential"))
        case .model: break
        }
        fields.append(("CFG scale", Self.number(request.cfgScale)))
        fields.append(("Seed", "\(seed)"))
        fields.append(("Size", "\(width)x\(height)"))
        if let modelHash { fields.append(("Model hash", modelHash)) }
        fields.append(("Model", model.name))
        if request.initImage != nil { fields.append(("Denoising strength", Self.number(request.strength))) }
        if request.clipSkip != 1 { fields.append(("Clip skip", "\(request.clipSkip)")) }
        if request.eta != 0 { fields.append(("Eta DDIM", Self.number(request.eta))) }
        fields.append(("RNG", "CPU"))
        fields.append(("Version", version))
        self.init(prompt: request.prompt, negativePrompt: request.negativePrompt, fields: fields)
    }

    /// A1111's display name of a sampler (`Euler a`), stipple's own name where A1111 has none.
    static func samplerName(_ name: String, model: StableDiffusionModel) -> String {
        guard var sampler = try? SamplerName(parsing: name) else { return name }
        if sampler == .default, let own = model.scheduler.className.flatMap(SamplerName.init(diffusersClass:)) {
            sampler = own
        }
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
        func number(_ key: String) throws(GenerationError) -> Double? {
            guard let text = infotext[key] else { return nil }
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else {
                throw .invalid("the image's \(key) \"\(text)\" is not a number")
            }
            return value
        }
        if let steps = try number("Steps") { self.steps = Int(steps) }
        if let sampler = infotext["Sampler"] {
            do {
                self.sampler = try SamplerName(parsing: sampler).rawValue
            } catch {
                throw .invalid("the image's sampler \"\(sampler)\" is not one stipple has (\(error.description))")
            }
            if sampler.hasSuffix(" Karras") { schedule = SigmaSchedule.karras.rawValue }
        }
        if let type = infotext["Schedule type"] {
            switch type.lowercased() {
            case "karras": schedule = SigmaSchedule.karras.rawValue
            case "exponential": schedule = SigmaSchedule.exponential.rawValue
            case "automatic", "uniform", "default": break
            default: throw .invalid("the image's schedule type \"\(type)\" is not one stipple has (Karras, Exponential)")
            }
        }
        if let cfg = try number("CFG scale") { cfgScale = cfg }
        if let seedText = infotext["Seed"] {
            guard let value = UInt64(seedText.trimmingCharacters(in: .whitespaces)) else {
                throw .invalid("the image's seed \"\(seedText)\" is not a whole number")
            }
            seed = value
        }
        if let size = infotext.size { (width, height) = (size.width, size.height) }
        if let strength = try number("Denoising strength") { self.strength = strength }
        if let skip = try number("Clip skip") { clipSkip = Int(skip) }
        if let eta = try number("Eta DDIM") { self.eta = eta }
    }

    /// What `init(infotext:)` cannot reproduce from these parameters, one line each.
    public static func warnings(for infotext: Infotext) -> [String] {
        var warnings: [String] = []
        switch infotext["RNG"]?.uppercased() {
        case "CPU": break
        case nil, "GPU": warnings.append("the image used GPU noise (A1111's default RNG); stipple draws torch's CPU noise, so the image will differ")
        case let other?: warnings.append("the image used RNG \(other); stipple draws torch's CPU noise, so the image will differ")
        }
        for key in ["Hires upscale", "Hires steps", "Variation seed", "Face restoration", "Refiner"] where infotext[key] != nil {
            warnings.append("\(key) is not supported and is ignored")
        }
        return warnings
    }
}
