import Foundation
import Tensor

/// Text-to-image and image-to-image, step for step as diffusers' `StableDiffusionPipeline` and
/// `StableDiffusionImg2ImgPipeline` on CPU with `generator=torch.Generator("cpu").manual_seed(seed)`:
///
/// The model is reached only through its seams (`TextConditioner`, `Denoiser`, `LatentDecoder`,
/// the sampler's `SamplerStep`), so other model families plug in without changing this loop.
///
/// 1. conditioning for the prompt (and the negative prompt when CFG > 1);
/// 2. per image, one torch-compatible random stream seeded with seed + index; txt2img draws the
///    initial latents from it (times `init_noise_sigma`); img2img encodes the init image, samples
///    the VAE's latent distribution from the stream, then draws the noise and noises the latents
///    to the first timestep `strength` keeps;
/// 3. the sampler loop; with CFG the denoiser runs [unconditional, conditional] as one batch of 2
///    and the guided output is `uncond + scale * (cond - uncond)`; ancestral/SDE samplers keep
///    drawing from the same stream; each step also gives the clean-sample estimate previews show;
/// 4. the latent decoder decodes (the VAE: latents / scaling_factor); pixels are
///    `round(clamp(x / 2 + 0.5) * 255)`.
public struct Pipeline: Sendable {
    public let model: StableDiffusionModel
    /// Lets the denoiser go (`Denoiser.unload()`) once the last image is sampled, before its decode:
    /// for a process that generates and exits (`stipple generate`), so a UNet held in memory of its
    /// own (`--weight-type`) is not resident beside the VAE decode's working memory. The studio,
    /// which generates again, keeps it.
    public var unloadsDenoiserBeforeLastDecode: Bool

    public init(model: StableDiffusionModel, unloadsDenoiserBeforeLastDecode: Bool = false) {
        self.model = model
        self.unloadsDenoiserBeforeLastDecode = unloadsDenoiserBeforeLastDecode
    }

    /// Runs `request` on the calling thread, reporting to `observer` (on this thread) and obeying
    /// `control`. Returns the images; throws `GenerationError` (cancelled, invalid settings, ...).
    public func run(_ request: GenerationRequest, control: GenerationControl = GenerationControl(),
                    observer: (GenerationEvent) -> Void = { _ in }) throws(GenerationError) -> [GeneratedImage] {
        try request.validate(for: model)
        // A1111's extra-network tags (`<lora:NAME:W>`) leave the prompts before they are encoded;
        // the LoRAs they name are merged into a model built beside this one.
        let tags = ExtraNetworkTags(parsing: request.prompt), negativeTags = ExtraNetworkTags(parsing: request.negativePrompt)
        var missing: [String] = []
        let (uses, patched) = try Self.refusingAsInvalid {
            let uses = try tags.loras.compactMap { tag -> LoRAUse? in
                let file: LoRAFile
                do {
                    file = try LoRALibrary.shared.file(named: tag.name, in: request.loraFolder)
                } catch let error as LoRAError where request.skipsMissingLoRAs {
                    // An image's parameters read back: rerun what is here, as A1111 does.
                    missing.append("\(error.description); left out, so the image will differ")
                    return nil
                }
                return LoRAUse(file: file, textWeight: Float(tag.textWeight), unetWeight: Float(tag.unetWeight))
            }
            return (uses, try model.withLoRAs(uses, application: request.loraApplication))
        }
        for note in missing + tags.notes + patched.warnings { observer(.warning(note)) }
        if !negativeTags.loras.isEmpty || !negativeTags.notes.isEmpty {
            observer(.warning("tags such as <lora:…> in the negative prompt are taken out and not applied (as A1111 leaves them unapplied)"))
        }
        guard request.prompt != tags.prompt || request.negativePrompt != negativeTags.prompt else {
            return try runResolved(request, control: control, observer: observer)
        }
        var untagged = request
        (untagged.prompt, untagged.negativePrompt) = (tags.prompt, negativeTags.prompt)
        var hashes: [NamedHash] = []
        for use in uses where !hashes.contains(where: { $0.name == use.file.name }) {
            let hash = NamedHash(name: use.file.name, hash: (try? use.file.shortHash()) ?? "unknown")
            hashes.append(hash)
            if let recorded = request.recordedLoRAHashes.first(where: { $0.name == hash.name }), recorded.hash != hash.hash {
                observer(.warning("LoRA \(hash.name): the image was made with a file of hash \(recorded.hash), the one here has "
                                  + "\(hash.hash); the image will differ"))
            }
        }
        // Images report the prompt as written, tags and all (A1111 keeps them in its infotext).
        func retagged(_ image: GeneratedImage) -> GeneratedImage {
            var image = image
            (image.request.prompt, image.request.negativePrompt) = (request.prompt, request.negativePrompt)
            image.loraHashes = hashes
            return image
        }
        let images = try Pipeline(model: patched.model, unloadsDenoiserBeforeLastDecode: unloadsDenoiserBeforeLastDecode)
            .runResolved(untagged, control: control) { event in
                switch event {
                case .image(let image): observer(.image(retagged(image)))
                case .finished(let images): observer(.finished(images.map(retagged)))
                default: observer(event)
                }
            }
        return images.map(retagged)
    }

    /// `body`'s result; what it throws becomes `GenerationError.invalid` with the error's one line.
    private static func refusingAsInvalid<T>(_ body: () throws -> T) throws(GenerationError) -> T {
        do {
            return try body()
        } catch let error as CustomStringConvertible {
            throw .invalid(error.description)
        } catch {
            throw .invalid("\(error)")
        }
    }

    /// `run` for a request whose prompts hold no extra-network tags (or on a model they were applied to).
    func runResolved(_ request: GenerationRequest, control: GenerationControl,
                     observer: (GenerationEvent) -> Void) throws(GenerationError) -> [GeneratedImage] {
        var resolved = request
        let (width, height) = request.size(for: model)
        (resolved.width, resolved.height) = (width, height)
        let seed = request.seed ?? UInt64(UInt32.random(in: 0...UInt32.max))
        resolved.seed = seed
        // A variation strength without a variation seed blends towards a random one (A1111's -1).
        if request.variationStrength != 0, request.variationSeed == nil {
            resolved.variationSeed = UInt64(UInt32.random(in: 0...UInt32.max))
        }
        // A model that takes the scale as an input (LCM) is never run twice per step. AND parts
        // are combined against the unconditional output whatever the scale (A1111's way).
        let composable = PromptScheduleConditioning.isComposable(request.prompt)
        if composable && model.denoiser.embedsGuidance {
            throw .invalid("AND in the prompt needs an unconditional pass, which an LCM-distilled UNet does not make; write one prompt")
        }
        let guided = (request.isGuided || composable) && !model.denoiser.embedsGuidance
        // Fail on sampler settings before any model work.
        _ = try checkedSampler(resolved)

        try control.check()
        // Prompt editing, alternation and AND change the conditioning per step; other prompts
        // take the plain path below, unchanged.
        var scheduled: PromptScheduleConditioning?
        var context: Conditioning
        if try PromptScheduleConditioning.isNeeded(prompt: request.prompt, negative: guided ? request.negativePrompt : nil,
                                                   steps: request.steps) {
            let schedules = try scheduledConditioning(resolved, guided: guided)
            scheduled = schedules
            context = schedules.context(atStep: 0)
        } else {
            let (positive, negative) = try conditioning(resolved, guided: guided)
            context = negative.map { $0.batched(with: positive) } ?? positive
        }
        if model.denoiser.embedsGuidance { context.guidance = Float(request.cfgScale) }
        let decoder = latentDecoder(for: resolved)

        var images: [GeneratedImage] = []
        for index in 0..<request.batchCount {
            let clock = ContinuousClock()
            let start = clock.now
            var single = resolved
            single.seed = seed &+ UInt64(index)
            single.variationSeed = resolved.variationSeed.map { $0 &+ UInt64(index) }
            single.batchCount = 1
            let latents = try sample(single, index: index, context: context, guided: guided, scheduled: scheduled,
                                     decoder: decoder, control: control, observer: observer)
            if unloadsDenoiserBeforeLastDecode && index == request.batchCount - 1 { model.denoiser.unload() }
            observer(.decoding(imageIndex: index))
            let image = try decode(latents, decoder: request.decoder == .taesd ? model.tinyDecoder ?? decoder : decoder, control: control)
            let duration = clock.now - start
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
            let generated = GeneratedImage(image: image, seed: single.seed!, imageIndex: index, request: single,
                                           latents: latents, seconds: seconds)
            images.append(generated)
            observer(.image(generated))
        }
        return images
    }

    /// The model's latent decoder, wrapped in a `TiledDecoder` when the request's tiling setting
    /// and the memory available now (`MemoryEstimate.tilesVAE`) say so; used for the init image,
    /// `full` previews and the final decode alike.
    func latentDecoder(for request: GenerationRequest) -> any LatentDecoder {
        guard let tileable = model.decoder as? any TileableLatentDecoder,
              MemoryEstimate(request: request, model: model).tilesVAE() else { return model.decoder }
        return TiledDecoder(tileable, tile: TiledDecoder.tileSize(for: model))
    }

    /// The sampler a request names, built from the model's scheduler config.
    func makeSampler(_ request: GenerationRequest) throws(GenerationError) -> any Sampler {
        do {
            var config = model.scheduler
            if let spacing = request.timestepSpacing { config.timestepSpacing = spacing.rawValue }
            // An LCM-distilled UNet's img2img is LatentConsistencyModelImg2ImgPipeline's: the strength
            // picks the steps from the start of the distillation schedule.
            if model.denoiser.embedsGuidance, request.initImage != nil, request.schedule == .model, request.eta == 0,
               (try? request.sampler.resolved(for: config)) == .lcm {
                do {
                    return try LCMSampler(config: config, steps: request.steps, strength: request.strength)
                } catch {
                    throw GenerationError.invalid(error.description)
                }
            }
            // A timestep spacing is diffusers' idea (A1111's SGM Uniform is read as trailing spacing).
            let convention = request.timestepSpacing == nil ? request.samplingConvention : .diffusers
            return try Diffusion.makeSampler(name: request.sampler, schedule: request.schedule, config: config,
                                             steps: request.steps, eta: Float(request.eta), convention: convention)
        } catch let error as GenerationError {
            throw error
        } catch let error as SamplerError {
            throw .invalid(error.description)
        } catch {
            throw .invalid("\(error)")
        }
    }

    /// `makeSampler(_:)`'s sampler, refused when it is built for the other kind of model than this
    /// one (flow samplers drive flow-matching models only, the others diffusion models only).
    func checkedSampler(_ request: GenerationRequest) throws(GenerationError) -> any Sampler {
        let sampler = try makeSampler(request)
        if let mismatch = sampler.mismatch(with: model.parameterisation, name: request.sampler.rawValue) {
            throw .invalid(mismatch)
        }
        return sampler
    }

    /// The conditioning for the prompt, and for the negative prompt when guided (both the same
    /// length).
    func conditioning(_ request: GenerationRequest, guided: Bool) throws(GenerationError)
        -> (positive: Conditioning, negative: Conditioning?) {
        let (width, height) = request.size(for: model)
        let result = try model.conditioner.encode(ConditioningRequest(
            prompt: request.prompt, negativePrompt: guided ? request.negativePrompt : nil, clipSkip: request.clipSkip,
            width: width, height: height, sizeConditioning: request.sizeConditioning,
            embeddings: request.embeddingsFolder.map { EmbeddingLibrary(folder: $0) }))
        guard result.positive.isFinite, result.negative?.isFinite ?? true else {
            throw .failed("the model produced NaN encoding the prompt (the text encoder's output: its weights are not finite)")
        }
        return result
    }

    /// The per-step conditioning of a request whose prompt has editing, alternation or AND (or
    /// whose negative prompt has a schedule): each distinct text encoded once.
    func scheduledConditioning(_ request: GenerationRequest, guided: Bool) throws(GenerationError) -> PromptScheduleConditioning {
        let (width, height) = request.size(for: model)
        let embeddings = request.embeddingsFolder.map { EmbeddingLibrary(folder: $0) }
        let result = try PromptScheduleConditioning(prompt: request.prompt, negative: guided ? request.negativePrompt : nil,
                                                    steps: request.steps) { (text, isNegative) throws(GenerationError) in
            // A negative text is encoded as the negative prompt (SDXL's empty one is zeros).
            let pair = try model.conditioner.encode(ConditioningRequest(
                prompt: text, negativePrompt: isNegative ? text : nil, clipSkip: request.clipSkip, width: width, height: height,
                sizeConditioning: request.sizeConditioning, embeddings: embeddings))
            return isNegative ? pair.negative ?? pair.positive : pair.positive
        }
        guard result.isFinite else {
            throw .failed("the model produced NaN encoding the prompt (the text encoder's output: its weights are not finite)")
        }
        return result
    }

    /// The sampling loop for one image: its final latents (at the denoiser's scale). With
    /// `scheduled`, each step's conditioning comes from it (A1111's step count: calls since the
    /// image's first step) instead of `context`.
    func sample(_ request: GenerationRequest, index: Int, context: Conditioning, guided: Bool,
                scheduled: PromptScheduleConditioning? = nil,
                decoder chosen: (any LatentDecoder)? = nil, control: GenerationControl,
                observer: (GenerationEvent) -> Void) throws(GenerationError) -> Tensor {
        let decoder = chosen ?? model.decoder
        var sampler = try checkedSampler(request)
        var random = NoiseStream(request.noiseSource, seed: request.seed!, seedDelta: request.noiseSeedDelta,
                                 variation: request.variationSeed.map { ($0, request.variationStrength) })
        let (width, height) = (request.width!, request.height!)
        let shape = [1, model.latentChannels, height / model.vaeScaleFactor, width / model.vaeScaleFactor]
        let check = { () throws(GenerationError) in try control.check() }

        var first = 0
        var latents: Tensor
        if let initImage = request.initImage {
            first = sampler.firstStepIndex(strength: request.strength, steps: request.steps)
            guard first < sampler.timesteps.count else {
                throw .invalid("strength \(request.strength) leaves no steps out of \(request.steps); raise strength or steps")
            }
            let original = try catching { try decoder.encode(image: initImage.normalized, random: &random, check: check) }
            guard original.isFinite else {
                throw .failed("the model produced NaN encoding the init image (the VAE's output); nothing was saved")
            }
            let noise = random.startNoise(shape: original.shape)
            latents = sampler.addNoise(original: original, noise: noise, stepIndex: first)
        } else {
            latents = scaled(random.startNoise(shape: shape), by: sampler.initNoiseSigma)
        }

        let timesteps = sampler.timesteps
        let total = timesteps.count - first
        observer(.started(ImageStart(imageIndex: index, imageCount: request.batchCount == 1 ? 1 : request.batchCount,
                                     seed: request.seed!, steps: total)))
        let clock = ContinuousClock()
        let start = clock.now
        let guidance = Float(request.cfgScale)
        // Time spent paused (the studio's pause and single step) is not sampling time.
        var paused: Duration = .zero
        // The trajectory: where the model-input latent started, and the last clean estimate.
        var origin: Tensor?
        var lastEstimate: Tensor?
        for i in first..<timesteps.count {
            let waitStart = clock.now
            try control.waitBeforeStep()
            paused += clock.now - waitStart
            let t = timesteps[i]
            let input = sampler.scaleModelInput(latents, stepIndex: i)
            if origin == nil { origin = input }
            var output: Tensor
            if let scheduled {
                var stepContext = scheduled.context(atStep: i - first)
                stepContext.guidance = context.guidance
                output = try guidedOutput(input, t: t, context: stepContext, weights: scheduled.weights,
                                          guidance: guided ? guidance : nil, check: check)
            } else if guided {
                let both = try catching {
                    try model.denoiser(concatBatch(input, input), timesteps: [t, t], conditioning: context, check: check)
                }
                let halves = splitBatch(both, parts: 2)
                output = halves[0]
                let (uncond, cond) = (halves[0].storage, halves[1].storage)
                for j in 0..<output.count { output.storage[j] = uncond[j] + guidance * (cond[j] - uncond[j]) }
            } else {
                output = try catching { try model.denoiser(input, timesteps: [t], conditioning: context, check: check) }
            }
            let step = i - first + 1
            guard output.isFinite else {
                throw .failed("the model produced NaN at step \(step) of \(total) (the UNet's output: its weights or "
                              + "the prompt's conditioning are not finite); nothing was saved")
            }
            let stepped = sampler.step(modelOutput: output, stepIndex: i, sample: latents, random: &random)
            latents = stepped.sample
            guard latents.isFinite else {
                throw .failed("the model produced NaN at step \(step) of \(total) (the \(Infotext.samplerName(request.sampler, model: model)) sampler's update "
                              + "with CFG \(Infotext.number(request.cfgScale))); nothing was saved")
            }

            let next = i + 1 < timesteps.count ? sampler.scaleModelInput(latents, stepIndex: i + 1) : latents
            let trajectory = TrajectoryStep(movement: TrajectoryStep.rms(next, input), fromStart: TrajectoryStep.rms(next, origin ?? input),
                                            estimateChange: lastEstimate.map { TrajectoryStep.rms(stepped.denoised, $0) } ?? 0)
            lastEstimate = stepped.denoised

            var preview: PixelImage?
            var otherPreview: PixelImage?
            switch request.preview {
            case .off: break
            case .approx, .full, .taesd:
                let full = request.preview == .full
                let tiny = request.preview == .taesd ? model.tinyDecoder : nil
                if !full || step % request.fullPreviewInterval == 0 || step == total {
                    func latent(_ kind: PreviewLatent) -> Tensor {
                        switch kind {
                        case .denoised:
                            stepped.denoised
                        case .noisy:
                            next
                        }
                    }
                    func pixels(_ kind: PreviewLatent) throws(GenerationError) -> PixelImage {
                        if let tiny { return try decode(latent(kind), decoder: tiny, control: control) }
                        return full ? try decode(latent(kind), decoder: decoder, control: control) : model.previewFactors.rgb(latent(kind))
                    }
                    preview = try pixels(request.previewLatent)
                    if request.previewBothLatents {
                        otherPreview = try pixels(request.previewLatent == .denoised ? .noisy : .denoised)
                    }
                }
            }
            let elapsed = seconds(clock.now - start - paused)
            var progress = StepProgress(imageIndex: index, imageCount: request.batchCount, step: step, total: total,
                                        timestep: t, elapsed: elapsed,
                                        stepsPerSecond: elapsed > 0 ? Double(step) / elapsed : 0, preview: preview,
                                        previewLatent: request.previewLatent, otherPreview: otherPreview)
            progress.trajectory = trajectory
            observer(.step(progress))
        }
        return latents
    }

    /// The denoiser's output for `input` under a batch [unconditional, part 1, ..., part k] when
    /// `guidance` is given (unconditional + sum of (part - unconditional) x weight x guidance,
    /// A1111's `combine_denoised`), else under the one conditional sample.
    func guidedOutput(_ input: Tensor, t: Float, context: Conditioning, weights: [Float], guidance: Float?,
                      check: () throws(GenerationError) -> Void) throws(GenerationError) -> Tensor {
        guard let guidance else {
            return try catching { try model.denoiser(input, timesteps: [t], conditioning: context, check: check) }
        }
        let count = weights.count + 1
        var batch = input
        for _ in 1..<count { batch = concatBatch(batch, input) }
        let all = try catching {
            try model.denoiser(batch, timesteps: [Float](repeating: t, count: count), conditioning: context, check: check)
        }
        let samples = splitBatch(all, parts: count)
        var output = samples[0]
        let uncond = samples[0].storage
        for (part, weight) in zip(samples.dropFirst(), weights) {
            let scale = weight * guidance
            let cond = part.storage
            for j in 0..<output.count { output.storage[j] += (cond[j] - uncond[j]) * scale }
        }
        return output
    }

    /// Pixels of latents at the denoiser's scale (the decoder undoes its latent scaling); `chosen`
    /// is `latentDecoder(for:)`'s choice, else the model's own decoder.
    func decode(_ latents: Tensor, decoder chosen: (any LatentDecoder)? = nil,
                control: GenerationControl) throws(GenerationError) -> PixelImage {
        let decoder = chosen ?? model.decoder
        let check = { () throws(GenerationError) in try control.check() }
        let decoded = try catching { try decoder.decode(latents: latents, check: check) }
        guard decoded.isFinite else {
            throw .failed("the model produced NaN decoding the image (the VAE's output: its weights are not finite); nothing was saved")
        }
        return PixelImage(decoded: decoded)
    }

    /// Runs model code that throws only through `check`, keeping the error typed.
    func catching<T>(_ body: () throws -> T) throws(GenerationError) -> T {
        do {
            return try body()
        } catch let error as GenerationError {
            throw error
        } catch {
            throw .failed("\(error)")
        }
    }

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
