import Foundation
import Tensor

/// Text-to-image and image-to-image, step for step as diffusers' `StableDiffusionPipeline` and
/// `StableDiffusionImg2ImgPipeline` on CPU with `generator=torch.Generator("cpu").manual_seed(seed)`:
///
/// 1. conditioning for the prompt (and the negative prompt when CFG > 1);
/// 2. per image, one torch-compatible random stream seeded with seed + index; txt2img draws the
///    initial latents from it (times `init_noise_sigma`); img2img encodes the init image, samples
///    the VAE's latent distribution from the stream, then draws the noise and noises the latents
///    to the first timestep `strength` keeps;
/// 3. the sampler loop; with CFG the UNet runs [unconditional, conditional] as one batch of 2 and
///    the guided output is `uncond + scale * (cond - uncond)`; ancestral/SDE samplers keep
///    drawing from the same stream;
/// 4. the VAE decodes latents / scaling_factor; pixels are `round(clamp(x / 2 + 0.5) * 255)`.
public struct Pipeline: Sendable {
    public let model: StableDiffusionModel

    public init(model: StableDiffusionModel) {
        self.model = model
    }

    /// Runs `request` on the calling thread, reporting to `observer` (on this thread) and obeying
    /// `control`. Returns the images; throws `GenerationError` (cancelled, invalid settings, ...).
    public func run(_ request: GenerationRequest, control: GenerationControl = GenerationControl(),
                    observer: (GenerationEvent) -> Void = { _ in }) throws(GenerationError) -> [GeneratedImage] {
        try request.validate(for: model)
        var resolved = request
        let (width, height) = request.size(for: model)
        (resolved.width, resolved.height) = (width, height)
        let seed = request.seed ?? UInt64(UInt32.random(in: 0...UInt32.max))
        resolved.seed = seed
        let guided = request.cfgScale != 1
        // Fail on sampler settings before any model work.
        _ = try makeSampler(resolved)

        try control.check()
        let (positive, negative) = try conditioning(resolved, guided: guided)
        let context = guided ? concatBatch(negative!, positive) : positive

        var images: [GeneratedImage] = []
        for index in 0..<request.batchCount {
            let clock = ContinuousClock()
            let start = clock.now
            var single = resolved
            single.seed = seed &+ UInt64(index)
            single.batchCount = 1
            let latents = try sample(single, index: index, context: context, guided: guided, control: control,
                                     observer: observer)
            observer(.decoding(imageIndex: index))
            let image = try decode(latents, control: control)
            let duration = clock.now - start
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
            let generated = GeneratedImage(image: image, seed: single.seed!, imageIndex: index, request: single,
                                           latents: latents, seconds: seconds)
            images.append(generated)
            observer(.image(generated))
        }
        return images
    }

    /// The sampler a request names, built from the model's scheduler config.
    func makeSampler(_ request: GenerationRequest) throws(GenerationError) -> any Sampler {
        do {
            return try Diffusion.makeSampler(name: request.sampler, schedule: request.schedule, config: model.scheduler,
                                             steps: request.steps, eta: Float(request.eta))
        } catch {
            throw .invalid(error.description)
        }
    }

    /// [1, 77k, hidden] conditioning for the prompt, and for the negative prompt when guided
    /// (both the same length).
    func conditioning(_ request: GenerationRequest, guided: Bool) throws(GenerationError) -> (Tensor, Tensor?) {
        let encoder = try PromptEncoder(model: model)
        let result: (Tensor, Tensor?)
        if guided {
            let pair = try encoder.encode(prompt: request.prompt, negative: request.negativePrompt,
                                          clipSkip: request.clipSkip)
            result = (pair.positive, pair.negative)
        } else {
            result = (try encoder.encode(request.prompt, clipSkip: request.clipSkip), nil)
        }
        guard result.0.isFinite, result.1?.isFinite ?? true else {
            throw .failed("the model produced NaN encoding the prompt (the text encoder's output: its weights are not finite)")
        }
        return result
    }

    /// The sampling loop for one image: its final latents (UNet scale).
    func sample(_ request: GenerationRequest, index: Int, context: Tensor, guided: Bool, control: GenerationControl,
                observer: (GenerationEvent) -> Void) throws(GenerationError) -> Tensor {
        var sampler = try makeSampler(request)
        var random = TorchRandomSource(seed: request.seed!)
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
            let (mean, logvar) = try catching { try model.vae.encode(initImage.normalized, check: check) }
            let draw = random.normal(shape: mean.shape)
            var encoded = mean
            for i in 0..<encoded.count {
                encoded.storage[i] = mean.storage[i] + exp(0.5 * logvar.storage[i]) * draw.storage[i]
            }
            guard encoded.isFinite else {
                throw .failed("the model produced NaN encoding the init image (the VAE's output); nothing was saved")
            }
            let original = scaled(encoded, by: model.vae.scalingFactor)
            let noise = random.normal(shape: original.shape)
            latents = sampler.addNoise(original: original, noise: noise, stepIndex: first)
        } else {
            latents = scaled(random.normal(shape: shape), by: sampler.initNoiseSigma)
        }

        let timesteps = sampler.timesteps
        let total = timesteps.count - first
        observer(.started(ImageStart(imageIndex: index, imageCount: request.batchCount == 1 ? 1 : request.batchCount,
                                     seed: request.seed!, steps: total)))
        let clock = ContinuousClock()
        let start = clock.now
        let guidance = Float(request.cfgScale)
        let schedule = previewSchedule()
        // Time spent paused (the studio's pause and single step) is not sampling time.
        var paused: Duration = .zero
        for i in first..<timesteps.count {
            let waitStart = clock.now
            try control.waitBeforeStep()
            paused += clock.now - waitStart
            let t = timesteps[i]
            let input = sampler.scaleModelInput(latents, stepIndex: i)
            var output: Tensor
            if guided {
                let both = try catching {
                    try model.unet(concatBatch(input, input), timesteps: [t, t], context: context, check: check)
                }
                let halves = splitBatch(both, parts: 2)
                output = halves[0]
                let (uncond, cond) = (halves[0].storage, halves[1].storage)
                for j in 0..<output.count { output.storage[j] = uncond[j] + guidance * (cond[j] - uncond[j]) }
            } else {
                output = try catching { try model.unet(input, timesteps: [t], context: context, check: check) }
            }
            let step = i - first + 1
            guard output.isFinite else {
                throw .failed("the model produced NaN at step \(step) of \(total) (the UNet's output: its weights or "
                              + "the prompt's conditioning are not finite); nothing was saved")
            }
            latents = sampler.step(modelOutput: output, stepIndex: i, sample: latents, random: &random)
            guard latents.isFinite else {
                throw .failed("the model produced NaN at step \(step) of \(total) (the \(Infotext.samplerName(request.sampler, model: model)) sampler's update "
                              + "with CFG \(Infotext.number(request.cfgScale))); nothing was saved")
            }

            var preview: PixelImage?
            var otherPreview: PixelImage?
            switch request.preview {
            case .off: break
            case .approx, .full:
                let full = request.preview == .full
                if !full || step % request.fullPreviewInterval == 0 || step == total {
                    func latent(_ kind: PreviewLatent) -> Tensor {
                        switch kind {
                        case .denoised:
                            denoisedEstimate(input: input, output: output, timestep: t, schedule: schedule)
                        case .noisy:
                            i + 1 < timesteps.count ? sampler.scaleModelInput(latents, stepIndex: i + 1) : latents
                        }
                    }
                    func pixels(_ kind: PreviewLatent) throws(GenerationError) -> PixelImage {
                        full ? try decode(latent(kind), control: control) : model.previewFactors.rgb(latent(kind))
                    }
                    preview = try pixels(request.previewLatent)
                    if request.previewBothLatents {
                        otherPreview = try pixels(request.previewLatent == .denoised ? .noisy : .denoised)
                    }
                }
            }
            let elapsed = seconds(clock.now - start - paused)
            observer(.step(StepProgress(imageIndex: index, imageCount: request.batchCount, step: step, total: total,
                                        timestep: t, elapsed: elapsed,
                                        stepsPerSecond: elapsed > 0 ? Double(step) / elapsed : 0, preview: preview,
                                        previewLatent: request.previewLatent, otherPreview: otherPreview)))
        }
        return latents
    }

    /// Pixels of latents at UNet scale: the VAE decodes latents / scaling_factor.
    func decode(_ latents: Tensor, control: GenerationControl) throws(GenerationError) -> PixelImage {
        let factor = model.vae.scalingFactor
        let unscaled = mapElements(latents) { $0 / factor }
        let check = { () throws(GenerationError) in try control.check() }
        let decoded = try catching { try model.vae.decode(unscaled, check: check) }
        guard decoded.isFinite else {
            throw .failed("the model produced NaN decoding the image (the VAE's output: its weights are not finite); nothing was saved")
        }
        return PixelImage(decoded: decoded)
    }

    /// The training schedule, for turning a model output into a clean-image estimate.
    func previewSchedule() -> NoiseSchedule? {
        try? NoiseSchedule(config: model.scheduler, defaults: SchedulerDefaults(), allowsZeroSNR: true)
    }

    /// The model's estimate of the clean latent at timestep `t`, from its input (which every
    /// sampler puts in variance-preserving form: sqrt(a) x0 + sqrt(1 - a) noise) and its output.
    func denoisedEstimate(input: Tensor, output: Tensor, timestep t: Float, schedule: NoiseSchedule?) -> Tensor {
        let prediction = PredictionType(config: model.scheduler)
        guard let schedule, prediction != .sample else { return output }
        let sigma = schedule.interpolatedSigmas(at: [Double(t)])[0]
        let alphaBar = Float(1 / (1 + sigma * sigma))
        let (a, b) = (alphaBar.squareRoot(), (1 - alphaBar).squareRoot())
        switch prediction {
        case .epsilon:
            let inverse = 1 / max(a, 1e-4)
            return zipMap(input, output) { x, e in (x - b * e) * inverse }
        case .vPrediction:
            return zipMap(input, output) { x, v in a * x - b * v }
        case .sample:
            return output
        }
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
