import Diffusion
import Foundation
import Imaging

/// The body of one `POST /sdapi/v1/txt2img` (or `img2img`) for one image of a request, in the
/// form the server at hand reads, and the request as that server will run it.
///
/// One image per POST (`batch_size` 1, `n_iter` 1, the seed given explicitly as seed + index):
/// sd-server ignores `n_iter`, and A1111 puts a grid first in a batch; one image at a time also
/// gives each image its own progress and lets a cancel drop the rest.
///
/// What the server cannot do is refused here, in one line, before anything is sent: a sampler
/// or schedule it does not list (A1111 1.9+ and sd-server silently run another one), a size
/// sd-server would round, settings sd-server ignores (variation seeds, ENSD, DDIM's eta).
public struct A1111Payload: Sendable, Equatable {
    /// One entry of sd-server's structured `lora` field.
    public struct LoRA: Sendable, Equatable {
        /// The path `/sdapi/v1/loras` lists (relative to the server's LoRA folder).
        public var path: String
        public var multiplier: Double
    }

    public var flavor: A1111Flavor
    /// A1111: as typed (it parses `<lora:…>` and its prompt grammar itself); sd-server: with
    /// the LoRA tags taken out (it leaves them in the text), which go in `loras`.
    public var prompt: String
    public var negativePrompt: String
    public var seed: UInt64
    /// A1111's variation seed (`subseed`) and its strength; nil for none.
    public var subseed: UInt64?
    public var subseedStrength: Double
    /// The server's own name for the sampler (A1111's `DPM++ 2M`, sd.cpp's `dpm++2m`).
    public var samplerName: String
    /// A1111 1.9+'s scheduler label (`Karras`, `Automatic`), sd.cpp's scheduler name
    /// (`karras`); nil: none sent (A1111 before 1.9, or sd-server's model default).
    public var scheduler: String?
    public var steps: Int
    public var cfgScale: Double
    public var width: Int
    public var height: Int
    public var clipSkip: Int
    /// DDIM's eta, sent only for DDIM and when not 0.
    public var eta: Double?
    /// img2img: the init image and how far to change it.
    public var initImage: PixelImage?
    public var denoisingStrength: Double?
    /// sd-server's structured LoRAs.
    public var loras: [LoRA]
    /// A1111: `override_settings.sd_model_checkpoint` (sd-server ignores it: it runs the model it
    /// was started with).
    public var checkpoint: String?
    /// A1111: `eta_noise_seed_delta` (0 = none) and `randn_source` (`CPU`, or `NV`, its Philox
    /// generator: what stipple's GPU noise is, on any card).
    public var noiseSeedDelta: UInt64
    public var randnSource: String
    /// The request this image runs as on the server: one image, its seed, k-diffusion sampling,
    /// the sampler resolved, the noise the server draws (sd-server's is fixed later from its reply).
    public var resolved: GenerationRequest
    /// What the run goes on without, one line each (tags the server does not read, a TAESD decoder).
    public var warnings: [String]

    /// The most steps sd-server runs (it clamps silently beyond).
    public static let sdcppMaxSteps = 100
    /// sd-server rounds sizes up to this multiple (SD's VAE factor 8 times the UNet's 8).
    public static let sdcppSizeMultiple = 64

    /// The payload for image `imageIndex` (0-based) of `request`, whose first image has seed
    /// `firstSeed`, for `checkpoint` on the server `catalog` describes. `request.variationSeed`
    /// must already be drawn when a variation strength is set (the backend does it once per run).
    public init(request: GenerationRequest, imageIndex: Int, firstSeed: UInt64, checkpoint: RemoteCheckpoint,
                catalog: A1111Catalog) throws(A1111Error) {
        flavor = catalog.flavor
        let sdcpp = flavor == .stableDiffusionCpp
        let server = catalog.serverName
        seed = firstSeed &+ UInt64(clamping: max(0, imageIndex))
        let size = request.size(for: .remote(checkpoint))
        (width, height) = (size.width, size.height)
        steps = request.steps
        cfgScale = request.cfgScale
        clipSkip = request.clipSkip
        negativePrompt = request.negativePrompt
        warnings = []
        initImage = request.initImage
        denoisingStrength = request.initImage == nil ? nil : request.strength

        var resolved = request
        resolved.batchCount = 1
        resolved.seed = seed
        resolved.width = width
        resolved.height = height
        // Every A1111-compatible server samples as k-diffusion does.
        resolved.samplingConvention = .kDiffusion
        if request.decoder == .taesd {
            warnings.append("\(server) decodes with the checkpoint's VAE; --decoder taesd does not apply to it")
            resolved.decoder = .vae
        }
        if checkpoint.family == .sdxl, !request.sizeConditioning.isDefault {
            throw A1111Error("the A1111 API takes no SDXL original size or crop; leave them at the image's size")
        }

        // Variation seed.
        if request.variationStrength != 0 {
            guard !sdcpp else { throw A1111Error("\(server) has no variation seeds (it ignores subseed); set the variation strength to 0") }
            guard let variation = request.variationSeed else { throw A1111Error("the variation seed is not drawn yet") }
            subseed = variation &+ UInt64(clamping: max(0, imageIndex))
            subseedStrength = request.variationStrength
            resolved.variationSeed = subseed
        } else {
            subseed = nil
            subseedStrength = 0
            resolved.variationSeed = nil
            resolved.variationStrength = 0
        }

        // Sampler and schedule.
        let choice = try sdcpp ? Self.sdcppSampler(request, catalog: catalog) : Self.a1111Sampler(request, catalog: catalog)
        (samplerName, scheduler) = (choice.sampler, choice.scheduler)
        resolved.sampler = request.sampler == .default ? .euler : request.sampler
        // A1111's Automatic is the sampler's own default (Karras for DPM++ 2M), which its
        // infotext then names; stipple's model schedule under k-diffusion is the uniform one.
        if !sdcpp, request.schedule == .model, request.timestepSpacing == nil,
           let automatic = catalog.sampler(samplerName)?.automaticSchedule, let parsed = try? SigmaSchedule(parsing: automatic) {
            resolved.schedule = parsed
        }
        if request.sampler != .ddim || request.eta == 0 {
            eta = nil
        } else if sdcpp {
            throw A1111Error("\(server)'s A1111 API takes no DDIM eta; set eta to 0")
        } else {
            eta = request.eta
        }
        if request.sampler != .ddim { resolved.eta = 0 }

        if sdcpp {
            guard request.steps <= Self.sdcppMaxSteps else {
                throw A1111Error("\(server) runs at most \(Self.sdcppMaxSteps) steps (it would run \(Self.sdcppMaxSteps) and say so); ask for fewer")
            }
            guard width % Self.sdcppSizeMultiple == 0, height % Self.sdcppSizeMultiple == 0 else {
                let up = { (side: Int) in (side + Self.sdcppSizeMultiple - 1) / Self.sdcppSizeMultiple * Self.sdcppSizeMultiple }
                throw A1111Error("\(server) makes sizes in multiples of \(Self.sdcppSizeMultiple): \(width)x\(height) would come back "
                                 + "\(up(width))x\(up(height)); choose a multiple of \(Self.sdcppSizeMultiple)")
            }
            if let most = catalog.maxWidth, width > most { throw A1111Error("\(server) makes images at most \(most) wide, not \(width)") }
            if let most = catalog.maxHeight, height > most { throw A1111Error("\(server) makes images at most \(most) high, not \(height)") }
            guard seed <= UInt64(Int64.max) else { throw A1111Error("\(server) takes seeds up to \(Int64.max), not \(seed)") }
            if let delta = request.noiseSeedDelta {
                throw A1111Error("\(server) has no eta noise seed delta (ENSD \(delta)); clear it")
            }
            // sd-server draws its noise with its own --rng, for every request; the reply says which.
            noiseSeedDelta = 0
            randnSource = ""
            self.checkpoint = nil
            let tags = ExtraNetworkTags(parsing: request.prompt)
            prompt = tags.prompt
            warnings += tags.notes
            loras = try Self.sdcppLoRAs(tags.loras, catalog: catalog)
        } else {
            if request.noiseSeedDelta == 0 {
                throw A1111Error("A1111 has no ENSD 0 (ComfyUI's restart of the noise at the seed); clear it or give a delta above 0")
            }
            noiseSeedDelta = request.noiseSeedDelta ?? 0
            randnSource = request.noiseSource == .gpu ? "NV" : "CPU"
            // The server's own title for it (a stem or a hash names it too, but the title is exact).
            self.checkpoint = catalog.checkpoint(named: checkpoint.name)?.title ?? checkpoint.name
            prompt = request.prompt
            loras = []
            warnings += try Self.checkA1111LoRAs(request, catalog: catalog)
        }
        self.resolved = resolved
    }

    /// The route: txt2img, or img2img with an init image.
    public var path: String { initImage == nil ? "/sdapi/v1/txt2img" : "/sdapi/v1/img2img" }

    // MARK: Samplers

    /// A1111's sampler and scheduler: our `displayName` is A1111's name (`default` runs Euler);
    /// the schedule goes in 1.9+'s `scheduler` (`Automatic` for the model's own, `Karras`,
    /// `Exponential`, `Uniform`, and `SGM Uniform` for trailing timestep spacing), or, before
    /// 1.9 (no `/schedulers`), in the sampler's name (`DPM++ 2M Karras`). Both must be in the
    /// server's lists: A1111 1.9+ runs DPM++ 2M for a name it does not know.
    static func a1111Sampler(_ request: GenerationRequest, catalog: A1111Catalog) throws(A1111Error) -> (sampler: String, scheduler: String?) {
        let sampler = request.sampler == .default ? SamplerName.euler : request.sampler
        guard let name = sampler.displayName else {
            throw A1111Error("sampler \(sampler.rawValue) has no A1111 name; choose one of \(Self.names(of: catalog))")
        }
        // Never nil: A1111's names include one for the model's own schedule.
        let schedule = try Self.scheduleName(request, names: .a1111, server: "A1111") ?? "Automatic"
        guard let schedulers = catalog.schedulers else {
            // Before 1.9 the Karras and Exponential variants were samplers of their own.
            let combined = schedule == "Automatic" ? name : "\(name) \(schedule)"
            guard catalog.samplers.isEmpty || catalog.sampler(combined) != nil else {
                throw A1111Error("\(catalog.serverName) has no sampler \(combined) (it lists \(Self.names(of: catalog)))")
            }
            return (catalog.sampler(combined)?.name ?? combined, nil)
        }
        guard catalog.samplers.isEmpty || catalog.sampler(name) != nil else {
            throw A1111Error("\(catalog.serverName) has no sampler \(name) (it lists \(Self.names(of: catalog)))")
        }
        let lowered = schedule.lowercased()
        guard schedulers.isEmpty || schedulers.contains(where: { $0.label.lowercased() == lowered || $0.name.lowercased() == lowered }) else {
            let listed = schedulers.map(\.label).joined(separator: ", ")
            throw A1111Error("\(catalog.serverName) has no \(schedule) schedule (it lists \(A1111JSON.shown(listed)))")
        }
        return (catalog.sampler(name)?.name ?? name, schedule)
    }

    /// sd.cpp's names for stipple's samplers: its own where it has the same method.
    static let sdcppSamplerNames: [SamplerName: String] = [
        .euler: "euler", .eulerA: "euler_a", .heun: "heun", .dpm2: "dpm2", .dpmpp2M: "dpm++2m",
        .dpmpp2MSDE: "dpm++2m_sde", .lcm: "lcm", .lms: "lms", .ddim: "ddim_trailing",
    ]

    /// sd-server's sampler and scheduler, in its own lower-case names (it knows A1111's names for
    /// a few samplers only, and scheduler names only exactly): `default` runs `euler`; DDIM is
    /// its `ddim_trailing`, so only with trailing timestep spacing. Schedules: the model's own
    /// sends none (sd-server's default: `discrete`, k-diffusion's uniform spacing, for SD 1.x and
    /// SDXL), `Uniform` is `discrete`, `karras`, `exponential`, and trailing spacing `sgm_uniform`.
    static func sdcppSampler(_ request: GenerationRequest, catalog: A1111Catalog) throws(A1111Error) -> (sampler: String, scheduler: String?) {
        let server = catalog.serverName
        let sampler = request.sampler == .default ? SamplerName.euler : request.sampler
        guard let name = sdcppSamplerNames[sampler] else {
            throw A1111Error("\(server) has no \(sampler.displayName ?? sampler.rawValue) sampler; choose one of \(Self.names(of: catalog))")
        }
        var scheduler: String?
        if sampler == .ddim {
            guard request.timestepSpacing == .trailing, request.schedule == .model else {
                throw A1111Error("\(server)'s DDIM is ddim_trailing: set timestep spacing trailing and the model's own schedule for it")
            }
        } else {
            scheduler = try Self.scheduleName(request, names: .sdcpp, server: server)
        }
        guard catalog.samplers.isEmpty || catalog.samplers.contains(where: { $0.name == name }) else {
            throw A1111Error("\(server) has no sampler \(name) (it lists \(Self.names(of: catalog)))")
        }
        if let scheduler, let listed = catalog.schedulers, !listed.isEmpty, !listed.contains(where: { $0.name == scheduler }) {
            throw A1111Error("\(server) has no \(scheduler) scheduler (it lists \(A1111JSON.shown(listed.map(\.name).joined(separator: ", "))))")
        }
        return (name, scheduler)
    }

    /// A server's names for stipple's schedules: the model's own (nil: send none), Karras,
    /// Exponential, k-diffusion's uniform spacing, and trailing timestep spacing.
    struct ScheduleNames {
        var model: String?
        var karras, exponential, uniform, trailing: String

        static let a1111 = ScheduleNames(model: "Automatic", karras: "Karras", exponential: "Exponential", uniform: "Uniform",
                                         trailing: "SGM Uniform")
        /// sd.cpp's `discrete` is k-diffusion's uniform spacing of the model's sigmas.
        static let sdcpp = ScheduleNames(model: nil, karras: "karras", exponential: "exponential", uniform: "discrete",
                                         trailing: "sgm_uniform")
    }

    /// The request's schedule in `names`; trailing timestep spacing only with the model's own
    /// schedule (it is a schedule of its own there), other spacings refused.
    static func scheduleName(_ request: GenerationRequest, names: ScheduleNames, server: String) throws(A1111Error) -> String? {
        switch (request.schedule, request.timestepSpacing) {
        case (.model, nil): return names.model
        case (.karras, nil): return names.karras
        case (.exponential, nil): return names.exponential
        case (.uniform, nil): return names.uniform
        case (.model, .trailing?): return names.trailing
        case (_, .trailing?):
            throw A1111Error("trailing timestep spacing is \(server)'s \(names.trailing) schedule, which cannot go with the \(request.schedule.rawValue) schedule")
        case (_, let spacing?):
            throw A1111Error("\(server) has no \(spacing.rawValue) timestep spacing (only trailing, as its \(names.trailing) schedule)")
        }
    }

    /// The server's sampler names for a message, shortened.
    static func names(of catalog: A1111Catalog) -> String {
        catalog.samplers.isEmpty ? "the server's samplers" : A1111JSON.shown(catalog.samplers.map(\.name).joined(separator: ", "))
    }

    // MARK: LoRAs

    /// sd-server's structured LoRAs for the prompt's `<lora:NAME:W>` tags: NAME found in its
    /// `/sdapi/v1/loras` list by name, path or path without extension (one weight only: it has a
    /// single multiplier).
    static func sdcppLoRAs(_ tags: [ExtraNetworkTags.LoRA], catalog: A1111Catalog) throws(A1111Error) -> [LoRA] {
        var loras: [LoRA] = []
        for tag in tags {
            guard tag.textWeight == tag.unetWeight else {
                throw A1111Error("<lora:\(A1111JSON.shown(tag.name))>: \(catalog.serverName) takes one weight per LoRA, not separate text-encoder and UNet weights")
            }
            let found = catalog.loras.first { lora in
                guard let path = lora.path else { return false }
                let stem = path.split(separator: ".").dropLast().joined(separator: ".")
                return lora.name == tag.name || path == tag.name || stem == tag.name
            }
            guard let path = found?.path else {
                let listed = catalog.loras.isEmpty ? "it lists none: start it with --lora-model-dir" : "it lists " + A1111JSON.shown(catalog.loras.map(\.name).joined(separator: ", "))
                throw A1111Error("LoRA \(A1111JSON.quoted(tag.name)) is not one \(catalog.serverName) has (\(listed))")
            }
            loras.append(LoRA(path: path, multiplier: tag.textWeight))
        }
        return loras
    }

    /// A1111 reads `<lora:NAME:…>` itself and skips a NAME it does not have: a name not in its
    /// list (by name or alias) is refused as the embedded engine refuses a typed name, or left to
    /// the server with a warning for parameters read back from an image.
    static func checkA1111LoRAs(_ request: GenerationRequest, catalog: A1111Catalog) throws(A1111Error) -> [String] {
        var warnings: [String] = []
        for tag in ExtraNetworkTags(parsing: request.prompt).loras
        where !catalog.loras.contains(where: { $0.name == tag.name || $0.alias == tag.name }) {
            let message = "LoRA \(A1111JSON.quoted(tag.name)) is not one \(catalog.serverName) lists"
            guard request.skipsMissingLoRAs else { throw A1111Error(message) }
            warnings.append(message + "; it will run without it")
        }
        return warnings
    }

    // MARK: JSON

    /// The JSON body (sorted keys when serialized). The init image goes as a base64 PNG.
    public func jsonObject() throws(A1111Error) -> [String: Any] {
        var body: [String: Any] = [
            "prompt": prompt, "negative_prompt": negativePrompt, "seed": NSNumber(value: seed),
            "steps": steps, "cfg_scale": cfgScale, "width": width, "height": height, "sampler_name": samplerName,
            "batch_size": 1, "n_iter": 1, "send_images": true, "save_images": false,
        ]
        if let scheduler { body["scheduler"] = scheduler }
        if let image = initImage, let strength = denoisingStrength {
            let png: [UInt8]
            do {
                png = try PNG.encode(RGBImage(width: image.width, height: image.height, pixels: image.rgb), compressionLevel: 1)
            } catch {
                throw A1111Error("cannot encode the init image: \(error.description)")
            }
            body["init_images"] = [Data(png).base64EncodedString()]
            body["denoising_strength"] = strength
        }
        switch flavor {
        case .stableDiffusionCpp:
            body["clip_skip"] = clipSkip
            if !loras.isEmpty {
                body["lora"] = loras.map { ["path": $0.path, "multiplier": $0.multiplier, "is_high_noise": false] as [String: Any] }
            }
        case .automatic1111, .forge, .sdNext:
            body["subseed"] = subseed.map { NSNumber(value: $0) } ?? NSNumber(value: -1)
            body["subseed_strength"] = subseedStrength
            if let eta { body["eta"] = eta }
            var settings: [String: Any] = [
                "CLIP_stop_at_last_layers": clipSkip, "eta_noise_seed_delta": NSNumber(value: noiseSeedDelta),
                "randn_source": randnSource, "samples_format": "png",
            ]
            if let checkpoint { settings["sd_model_checkpoint"] = checkpoint }
            body["override_settings"] = settings
            body["override_settings_restore_afterwards"] = true
        }
        return body
    }
}
