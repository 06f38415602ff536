import ArgumentParser
import Diffusion
import Foundation
import Imaging
import Studio
import Tensor
import Terminal

/// `stipple generate`: text-to-image and image-to-image from the command line.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate images from a prompt (txt2img) or from an image (img2img).",
        discussion: """
            Saves PNGs carrying their parameters in AUTOMATIC1111's format (read them back with \
            `stipple info` or rerun them with --from). Without --output, images go to the output \
            folder as NNNNN-SEED.png; nothing is ever overwritten. Settings not given come from \
            --from IMAGE.png when given, else the defaults shown. Same model, seed and settings give \
            the same image as diffusers on CPU.
            """
    )

    @OptionGroup var options: GenerationOptions

    @OptionGroup var server: BackendOptions

    @Option(name: .long, help: "Previews while sampling: off, approx, full (the VAE every --preview-interval steps) or taesd (the tiny decoder every step) (shown with --show on a terminal; default off, or taesd with --preset few-step, --show and a tiny decoder).")
    var preview: PreviewMode?

    @Option(name: .long, help: "few-step: the few-step settings for the model: LCM-distilled UNet: lcm, 4 steps, CFG 8.5, or the steps and CFG of its stipple_defaults.json; a model named *turbo*: euler_a, 1 step, CFG 0, trailing; else (an LCM-LoRA in the prompt): lcm, 4 steps, CFG 1; with a tiny decoder, TAESD decode. Options given win.")
    var preset: GenerationPreset?

    @Option(name: .long, help: "What previews show: denoised (the model's estimate of the final image) or noisy (the latent as it is).")
    var previewLatent: PreviewLatent = .denoised

    @Flag(name: .long, inversion: .prefixedNo,
          help: "Decode (and encode init images) in overlapping 512-pixel VAE tiles: bounded memory at any size, within a few levels of a whole decode. Default: vae_tiling in the config file, else on by itself when the whole decode would not fit the memory available.")
    var vaeTiling: Bool?

    @Option(name: [.short, .long], help: "Write the image to this file (must not exist).")
    var output: String?

    @Flag(name: .long, help: "Show each image in the terminal after saving.")
    var show = false

    @Option(name: .long, help: "Rerun the parameters stored in a PNG (stipple's, AUTOMATIC1111's, ComfyUI's, Fooocus's, InvokeAI's, NovelAI's, SwarmUI's, stable-diffusion.cpp's; see `stipple info`); options given override them.")
    var from: String?

    @Option(name: .long, help: "With --from: which of the image's generations to rerun, numbered as `stipple info` shows them (a ComfyUI graph can hold several samplers; default 1).")
    var fromGeneration: Int?

    @Flag(name: .long, help: "Print how long each stage took (model load, prompt (with any LoRA merge), sampling, decode, save), when the first preview came, and the peak resident memory to standard error.")
    var timings = false

    @Flag(name: .long, help: "Print each step's trajectory to standard error: how far it moved the latent the model sees (RMS), its distance from the start, the change of the clean estimate, and each image's straightness (distance from start to end over the length walked; 1 is a straight line). The studio's F10 plots the same.")
    var trajectory = false

    func validate() throws {
        if options.prompt == nil && from == nil { throw ValidationError("give a prompt with -p/--prompt (or --from IMAGE.png)") }
        if let fromGeneration {
            guard from != nil else { throw ValidationError("--from-generation needs --from IMAGE.png") }
            guard fromGeneration >= 1 else { throw ValidationError("--from-generation counts from 1, not \(fromGeneration)") }
        }
        if output != nil && options.outputDir != nil { throw ValidationError("give --output or --output-dir, not both") }
        if let output, !output.lowercased().hasSuffix(".png") { throw ValidationError("--output must name a .png file, not \(output)") }
    }

    func run() throws {
        let clock = StageClock()
        if let threads = options.threads { Threads.set(threads) }
        if let output, FileManager.default.fileExists(atPath: output) {
            throw CommandFailure("\(output): already exists; stipple never overwrites an output")
        }
        var request = try baseRequest()
        try applyOptions(to: &request)
        let config: StudioConfig
        do {
            config = try StudioConfig.current()
        } catch {
            throw CommandFailure(error.description)
        }
        options.applyFolders(to: &request, config: config)
        try options.applyStyles(to: &request, config: config)
        let backend = try server.settings(config: config.backend, model: options.model)
        if backend.isRemote { return try runOnServer(request, settings: backend, clock: clock) }

        let weightType = try options.weightTypeOrConfigured()
        let model: StableDiffusionModel
        do {
            model = try options.withTinyDecoder(ModelLocator.load(path: options.model, prediction: options.prediction?.type,
                                                                  weightType: weightType))
        } catch let error as CustomStringConvertible {
            throw CommandFailure(error.description)
        }
        clock.mark(.load)
        let folder = try prepare(&request, on: .embedded(model))

        // A1111's model hash reads the whole weight file once (then it is cached): do it while sampling.
        let hash = ModelHashTask(model: model)
        let progress = ProgressReporter(showPreviews: show && request.preview != .off)
        let control = GenerationControl()
        let interrupts = InterruptHandler { control.cancel() }
        defer { interrupts.restore() }

        var saveError: (any Error)?
        do {
            // Each image is saved as it arrives (below), so the returned list is not needed.
            var walked: Double = 0
            _ = try Pipeline(model: model, unloadsDenoiserBeforeLastDecode: true).run(request, control: control) { event in
                progress.report(event)
                if trajectory, case .step(let step) = event, let path = step.trajectory {
                    walked = step.step == 1 ? Double(path.movement) : walked + Double(path.movement)
                    var line = String(format: "stipple: image %d step %d/%d: moved %.4f, from start %.4f, estimate change %.4f",
                                      step.imageIndex + 1, step.step, step.total, path.movement, path.fromStart, path.estimateChange)
                    if step.step == step.total, walked > 0 { line += String(format: "; straightness %.4f", Double(path.fromStart) / walked) }
                    FileHandle.standardError.write(Data((line + "\n").utf8))
                }
                switch event {
                case .started(let start): clock.mark(start.imageIndex == 0 ? .prompt : .other)
                case .decoding: clock.mark(.sampling)
                case .step(let step) where step.imageIndex == 0 && step.preview != nil: clock.preview(step: step.step, elapsed: step.elapsed)
                case .image: clock.mark(.decode)
                default: break
                }
                defer { if case .image = event { clock.mark(.save) } }
                guard case .image(let image) = event, saveError == nil else { return }
                do {
                    let saver = ImageSaver(model: model, modelHash: hash.value)
                    let url = try save(image, saver: saver, folder: folder)
                    progress.saved(url.path, seed: image.seed)
                    if show { try Self.present(image.image) }
                } catch {
                    saveError = error
                    control.cancel()
                }
            }
        } catch .cancelled {
            progress.finishLine()
            if let saveError { throw CommandFailure("\(saveError)") }
            FileHandle.standardError.write(Data("stipple: cancelled\n".utf8))
            throw ExitCode(interrupts.exitStatus)
        } catch {
            progress.finishLine()
            throw CommandFailure(error.description)
        }
        if let saveError { throw CommandFailure("\(saveError)") }
        if timings {
            FileHandle.standardError.write(Data((clock.summary(steps: request.steps)
                + String(format: "; peak memory %.0f MB", ResidentMemory.peakMegabytes) + "\n").utf8))
        }
    }

    /// The last steps before any work, the same on every backend: the preset for `target`, the
    /// init image, the settings checked, and the output folder (or `--output`'s) able to take the
    /// images before any sampling starts.
    func prepare(_ request: inout GenerationRequest, on target: ModelTarget) throws -> OutputFolder {
        // The model's own settings (stipple_defaults.json) for what neither the options nor --from set.
        if from == nil { try options.modelSettings(of: target.embedded)?.apply(to: &request, except: options.chosenSettings) }
        if let preset { try apply(preset, model: target.fewStepTraits, to: &request) }
        if let initImage = options.initImage {
            request.initImage = try Self.loadInitImage(initImage, width: options.width ?? request.width,
                                                       height: options.height ?? request.height)
        }
        do {
            try request.validate(for: target)
        } catch {
            throw CommandFailure(error.description)
        }
        let folder = try OutputFolder(url: URL(fileURLWithPath: options.outputDir ?? StudioConfig.current().outputDirectory ?? "outputs"))
        let size = request.size(for: target)
        let bytes = OutputFolder.imageBytes(width: size.width, height: size.height, count: request.batchCount)
        try checkOutputWritable(output, folder: folder, bytes: bytes)
        return folder
    }

    /// Saves one image where the options say; `--output` names the first, `-2`, `-3`, ... the rest.
    func save(_ image: GeneratedImage, saver: ImageSaver, folder: OutputFolder) throws -> URL {
        guard let output else { return try saver.save(image, in: folder) }
        var path = output
        if image.imageIndex > 0 {
            path = String(output.dropLast(4)) + "-\(image.imageIndex + 1).png"
        }
        return try saver.save(image, to: path)
    }

    /// The request from --from (when given) or the defaults: the image's first generation (or
    /// --from-generation's), its notes and what it cannot reproduce printed as warnings.
    func baseRequest() throws -> GenerationRequest {
        guard let from else { return GenerationRequest(prompt: options.prompt ?? "") }
        guard let metadata = try readImageTexts(from).metadata else {
            throw CommandFailure("\(from): the image has no generation parameters stipple reads (see `stipple info`)")
        }
        let generations = metadata.generations
        guard !generations.isEmpty else {
            let why = metadata.notes.first.map { ": \($0)" } ?? ""
            throw CommandFailure("\(from): its \(metadata.source.displayName) metadata holds no generation to rerun\(why)")
        }
        let number = fromGeneration ?? 1
        guard number <= generations.count else {
            throw CommandFailure("\(from): --from-generation \(number), but the image has \(generations.count) generation\(generations.count == 1 ? "" : "s")")
        }
        let generation = generations[number - 1]
        for warning in metadata.notes + generation.notes + GenerationRequest.warnings(for: generation.infotext) {
            FileHandle.standardError.write(Data("stipple: warning: \(TerminalText.visible(warning))\n".utf8))
        }
        do {
            return try GenerationRequest(infotext: generation.infotext)
        } catch {
            throw CommandFailure("\(from): \(error.description)")
        }
    }

    /// Options given on the command line override the base request; VAE tiling without a flag
    /// is the config file's `vae_tiling`, else automatic.
    func applyOptions(to request: inout GenerationRequest) throws {
        options.apply(to: &request)
        request.preview = preview ?? .off
        request.previewLatent = previewLatent
        if let vaeTiling {
            request.vaeTiling = vaeTiling ? .on : .off
        } else if let configured = try options.configured(\.vaeTiling) {
            request.vaeTiling = configured
        }
        // --from without --init-image is txt2img at the stored size.
    }

    /// The init image as RGB, resized to the requested size when one is given, else to its own
    /// size rounded down to a multiple of 8 (as diffusers' image processor does).
    static func loadInitImage(_ path: String, width: Int?, height: Int?) throws -> PixelImage {
        do {
            return try InitImage.load(path: path, width: width, height: height)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// Draws `pixels` on the terminal when standard output is one.
    static func present(_ pixels: PixelImage) throws {
        guard isatty(STDOUT_FILENO) == 1 else { return }
        let capabilities = TerminalCapabilities.detect(probe: true)
        var target = ImagePresenter.Target(mode: capabilities.graphics, columns: nil, sixel: SixelEncoder.Settings())
        if let columns = capabilities.columns, let rows = capabilities.rows {
            target.window = (columns, rows)
            target.cellSize = capabilities.cellPixelSize
        }
        let image = RGBImage(pixels)
        try StandardOutput.write(try ImagePresenter().render(image, on: target))
    }
}

/// `--prediction` values.
enum PredictionChoice: String, ExpressibleByArgument, CaseIterable {
    case epsilon, v

    var type: PredictionType { self == .v ? .vPrediction : .epsilon }
}

extension PreviewMode: ExpressibleByArgument {}
extension TimestepSpacing: ExpressibleByArgument {}
extension LoRAApplication: ExpressibleByArgument {}
extension NoiseSource: ExpressibleByArgument {}
extension ImageDecoder: ExpressibleByArgument {}
extension PreviewLatent: ExpressibleByArgument {}

/// The generation settings `stipple generate` and `stipple studio` share (for the studio they are
/// the controls' initial values).
struct GenerationOptions: ParsableArguments {
    @Option(name: .long, help: "A diffusers model folder or a single-file .safetensors checkpoint, or a bundled model by name: shapes-64 (the default) and its variants beside it (shapes-64-linear, shapes-64-lcm, shapes-64-flow). A folder's stipple_defaults.json sets the steps, CFG and sampler not given here; with --backend comfyui or a1111, the server's checkpoint (its name or an unambiguous part of it; default: the server's current or first one).")
    var model: String?

    @Option(name: [.short, .long], help: "The prompt; A1111 syntax: (word:1.2), (word), [word], BREAK.")
    var prompt: String?

    @Option(name: [.customShort("n"), .long], help: "The negative prompt.")
    var negativePrompt: String?

    @Option(name: .long, parsing: .unconditional, help: "Sampling steps (default 20).")
    var steps: Int?

    @Option(name: .long, parsing: .unconditional, help: "Classifier-free guidance scale; 1 and 0 skip the unconditional pass (0: as diffusers, for SDXL-Turbo and -Lightning) (default 7).")
    var cfgScale: Double?

    @Option(name: .long, help: "Noise from the seed: cpu (torch's CPU generator, as diffusers; default) or gpu (A1111's Philox generator: its default GPU noise on NVIDIA cards, its NV source).")
    var rng: NoiseSource?

    @Option(name: .long, parsing: .unconditional, help: "Seed; -1 picks a random one (default -1). Consecutive images use seed+1, ...")
    var seed: String?

    @Option(name: .long, help: "Sampler: default (the model's own), \(SamplerName.allCases.filter { $0 != .default }.map(\.rawValue).joined(separator: ", ")), or an A1111 name such as \"DPM++ 2M Karras\" (flow_euler: flow-matching models only).",
            transform: { try SamplerChoice(parsing: $0) })
    var sampler: SamplerChoice?

    @Option(name: .long, parsing: .unconditional, help: "A1111's variation seed: the starting noise is blended towards this seed's by --variation-strength (consecutive images use +1, as seeds).",
            transform: { text in
                guard let seed = try GenerationLimits.seed(text) else { throw ValidationError("--variation-seed must be a whole number from 0 to \(UInt64.max)") }
                return seed
            })
    var variationSeed: UInt64?

    @Option(name: .long, parsing: .unconditional, help: "How far towards the variation seed's noise, 0 to 1 (A1111's variation strength; default 0).",
            transform: { try GenerationLimits.variationStrength.number($0) })
    var variationStrength: Double?

    @Option(name: .long, parsing: .unconditional, help: "A1111's eta noise seed delta (ENSD): the ancestral steps' noise comes from a new stream at seed + this (NovelAI used 31337; 0 is ComfyUI's rule, the seed's own noise again; default: the stream goes on).",
            transform: { text in
                guard let delta = try GenerationLimits.seed(text) else { throw ValidationError("--ensd must be a whole number from 0 to \(UInt64.max)") }
                return delta
            })
    var ensd: UInt64?

    @Flag(name: .long, inversion: .prefixedNo,
          help: "Sample as k-diffusion does (A1111, ComfyUI): the model's own schedule is k-diffusion's uniform one, and DPM++ 2M is k-diffusion's (default: diffusers' samplers; on for --from an A1111 image).")
    var kDiffusion: Bool?

    @Option(name: .long, help: "Sigma schedule: default (the model's), karras, exponential, or uniform (k-diffusion's, A1111's Automatic for Euler, Euler a, Heun and LMS).", transform: { try SigmaSchedule(parsing: $0) })
    var schedule: SigmaSchedule?

    @Option(name: .long, help: "Spread of the steps over the training timesteps: leading, linspace or trailing (default: the model scheduler's; SDXL-Turbo and -Lightning want trailing).")
    var timestepSpacing: TimestepSpacing?

    @Option(name: [.customShort("W"), .long], parsing: .unconditional, help: "Width in pixels, a multiple of 8 (default: the model's native size).")
    var width: Int?

    @Option(name: [.customShort("H"), .long], parsing: .unconditional, help: "Height in pixels, a multiple of 8 (default: the model's native size).")
    var height: Int?

    @Option(name: .long, parsing: .unconditional, help: "Images to make, with seeds seed, seed+1, ... (default 1).")
    var batchCount: Int?

    @Option(name: .long, help: "img2img: the starting image (PNG or JPEG); resized to --width/--height when given.")
    var initImage: String?

    @Option(name: .long, parsing: .unconditional, help: "img2img: how much to change the image, 0-1 (default 0.75).")
    var strength: Double?

    @Option(name: .long, parsing: .unconditional, help: "Clip skip, A1111 numbering: 1 = last text-encoder layer (default 1); SDXL uses the penultimate for 1 and 2, as A1111.")
    var clipSkip: Int?

    @Option(name: .long, parsing: .unconditional, help: "DDIM's eta (default 0).")
    var eta: Double?

    @Option(name: .long, help: "SDXL: the original size WxH the model is told the picture had (default: the image size).",
            transform: { try SizeConditioning.parseSize($0) })
    var originalSize: PixelDimensions?

    @Option(name: .long, help: "SDXL: the crop's top-left corner TOP,LEFT in pixels (default 0,0).",
            transform: { try SizeConditioning.parseCorner($0) })
    var cropTopLeft: PixelCorner?

    @Option(name: .long, help: "Prediction type of a single-file checkpoint: epsilon or v (SD2 768-v models).")
    var prediction: PredictionChoice?

    @Option(name: .long, help: "A tiny decoder (TAESD) for --preview taesd and --decoder taesd: a diffusers AutoencoderTiny folder, or madebyollin's taesd_decoder.safetensors (its _encoder beside it is used too); default: the model folder's taesd/.")
    var taesd: String?

    @Option(name: .long, help: "What decodes the final image: vae (default) or taesd (far faster, a little less detail).")
    var decoder: ImageDecoder?

    @Option(name: .long, help: "Folder of LoRA files that <lora:NAME:WEIGHT> in the prompt names (NAME.safetensors; default: lora_dir in the config file).")
    var loraDir: String?

    @Option(name: .long, help: "How LoRAs are applied: runtime (beside each layer at every step: no weight copied; default) or merge (into copies of the adapted layers once, in their own precision: faster steps for repeated runs with a large LoRA, memory for the copies).")
    var loraApply: LoRAApplication?

    @Option(name: .long, help: "Folder of textual-inversion embeddings, used by file name in the prompts (default: embeddings_dir in the config file).")
    var embeddingsDir: String?

    @Option(name: .long, help: "Apply this style of the styles file (A1111's styles.csv: {prompt} in the style's text is replaced by the prompt, else the text is appended after a comma; the negative prompt likewise). Repeat for several, applied in order.")
    var style: [String] = []

    @Option(name: .long, help: "The styles file for --style, an A1111 styles.csv with columns name,prompt,negative_prompt (default: styles_file in the config file).")
    var styles: String?

    @Option(name: .long, help: "Folder for NNNNN-SEED.png files (default: outputs/, or output_dir in the config file).")
    var outputDir: String?

    @Option(name: .long, parsing: .unconditional, help: "Threads for the kernels (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: """
        Keep the UNet's large weights in memory as f32, f16 or bf16, converted once at load (default: read in place \
        as the checkpoint stores them, or weight_type in the config file). f16/bf16 hold an fp32 model's UNet at \
        half size (1.7 GB for SD1.5) and change the image by a few levels.
        """)
    var weightType: WeightType?

    /// --weight-type, else the config file's `weight_type`, else nil (as stored).
    func weightTypeOrConfigured() throws -> WeightType? {
        if let weightType { return weightType }
        return try configured(\.weightType)
    }

    /// A setting of the config file (a file that is not valid TOML is a one-line failure).
    func configured<Value>(_ key: KeyPath<StudioConfig, Value?>) throws -> Value? {
        do {
            return try StudioConfig.current()[keyPath: key]
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// Each number by its rule in `GenerationLimits` (the same rules the studio's panel and
    /// `--from` use); the message names the setting and what it allows.
    func validate() throws {
        do {
            if let threads { try GenerationLimits.threads.check(threads) }
            if let steps { try GenerationLimits.steps.check(steps) }
            if let cfgScale { try GenerationLimits.cfgScale.check(cfgScale) }
            if let seed { _ = try GenerationLimits.seed(seed) }
            if let width { try GenerationLimits.width.check(width) }
            if let height { try GenerationLimits.height.check(height) }
            if let batchCount { try GenerationLimits.batchCount.check(batchCount) }
            if let strength { try GenerationLimits.strength.check(strength) }
            if let clipSkip { try GenerationLimits.clipSkip(layers: 1000).check(clipSkip) }
            if let eta { try GenerationLimits.eta.check(eta) }
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// `model`'s own settings (`stipple_defaults.json`; nil for none, or no model loaded here),
    /// a file that breaks a rule being the command's one-line failure.
    func modelSettings(of model: StableDiffusionModel?) throws -> ModelDefaults? {
        do {
            return try model?.recommendedSettings()
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// The request the studio's controls and a grid start from: `model`'s own settings, these
    /// options over them, the config file's folders and the styles; and those settings.
    func initialRequest(for model: StableDiffusionModel?, config: StudioConfig) throws -> (request: GenerationRequest, defaults: ModelDefaults?) {
        var request = GenerationRequest(prompt: "")
        let defaults = try modelSettings(of: model)
        defaults?.apply(to: &request)
        apply(to: &request)
        applyFolders(to: &request, config: config)
        try applyStyles(to: &request, config: config)
        return (request, defaults)
    }

    /// The settings these options set, which a model's `stipple_defaults.json` leaves.
    var chosenSettings: ModelDefaults.Chosen {
        var chosen: ModelDefaults.Chosen = []
        if steps != nil { chosen.insert(.steps) }
        if cfgScale != nil { chosen.insert(.cfgScale) }
        if sampler != nil { chosen.insert(.sampler) }
        if schedule != nil || sampler?.schedule != nil { chosen.insert(.schedule) }
        return chosen
    }

    /// Options given on the command line override `request`'s settings.
    func apply(to request: inout GenerationRequest) {
        if let prompt { request.prompt = prompt }
        if let negativePrompt { request.negativePrompt = negativePrompt }
        if let steps { request.steps = steps }
        if let cfgScale { request.cfgScale = cfgScale }
        if let seed { request.seed = (try? GenerationLimits.seed(seed)) ?? nil }
        // A schedule in the sampler's name ("DPM++ 2M Karras") wins over --schedule.
        if let schedule { request.schedule = schedule }
        if let kDiffusion { request.samplingConvention = kDiffusion ? .kDiffusion : .diffusers }
        if let sampler {
            request.setSampler(sampler)
            // A schedule read from --from that the new sampler lacks (A1111's uniform for Euler a,
            // then --sampler dpmpp_2m) gives way to the model's own.
            if schedule == nil, !request.sampler.supports(request.schedule, convention: request.samplingConvention) {
                request.schedule = .model
            }
        }
        if let width { request.width = width }
        if let height { request.height = height }
        if let batchCount { request.batchCount = batchCount }
        if let strength { request.strength = strength }
        if let clipSkip { request.clipSkip = clipSkip }
        if let eta { request.eta = eta }
        if let timestepSpacing { request.timestepSpacing = timestepSpacing }
        if let originalSize {
            (request.sizeConditioning.originalWidth, request.sizeConditioning.originalHeight) = (originalSize.width, originalSize.height)
        }
        if let cropTopLeft { (request.sizeConditioning.cropTop, request.sizeConditioning.cropLeft) = (cropTopLeft.top, cropTopLeft.left) }
        if let decoder { request.decoder = decoder }
        if let loraApply { request.loraApplication = loraApply }
        if let rng { request.noiseSource = rng }
        if let variationSeed { request.variationSeed = variationSeed }
        if let variationStrength { request.variationStrength = variationStrength }
        if let ensd { request.noiseSeedDelta = ensd }
    }

    /// --lora-dir and --embeddings-dir, else the config file's `lora_dir` and `embeddings_dir`.
    func applyFolders(to request: inout GenerationRequest, config: StudioConfig) {
        request.loraFolder = loraDir ?? config.loraDirectory ?? request.loraFolder
        request.embeddingsFolder = embeddingsDir ?? config.embeddingsDirectory ?? request.embeddingsFolder
    }

    /// The --style styles (from --styles, else the config file's `styles_file`) applied to the
    /// request's prompt and negative prompt, in order; nothing without --style.
    func applyStyles(to request: inout GenerationRequest, config: StudioConfig) throws {
        guard !style.isEmpty else { return }
        guard let path = styles ?? config.stylesFile else {
            throw CommandFailure("--style needs a styles file: give --styles FILE (an A1111 styles.csv) or styles_file in the config file")
        }
        do {
            (request.prompt, request.negativePrompt) = try PromptStyles(path: path).apply(style, prompt: request.prompt,
                                                                                             negative: request.negativePrompt)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// `model` with `--taesd`'s tiny decoder, when given.
    func withTinyDecoder(_ model: StableDiffusionModel) throws -> StableDiffusionModel {
        guard let taesd else { return model }
        return try model.withTinyDecoder(AutoencoderTiny.load(path: taesd))
    }
}

/// A stage of `stipple generate --timings`; each ends where it is marked.
enum TimingStage: String {
    /// Options read, model loaded.
    case load
    /// Init image, checks and the prompt's conditioning, up to the first image's first step.
    case prompt
    /// The sampler loop.
    case sampling
    /// The VAE decode.
    case decode
    /// Writing the PNG (and `--show`).
    case save
    /// From one image's save to the next image's first step (a batch's later images).
    case other

    /// The name printed; sampling names its step count.
    func label(steps: Int) -> String {
        self == .sampling ? "sampling (\(steps) steps)" : rawValue
    }
}

/// Wall time per stage of `stipple generate --timings`, summed over a batch's images.
final class StageClock: @unchecked Sendable {  // used from the engine's callbacks, one at a time
    private var last = Date()
    private let start = Date()
    private var totals: [(TimingStage, Double)] = []
    /// The first image's first preview: its step, seconds from the end of the prompt stage, and
    /// the sampling seconds up to that step.
    private var firstPreview: (step: Int, seconds: Double, sampling: Double)?
    /// When the first image's sampling began (the prompt stage's end).
    private var samplingStart: Date?

    /// A preview of the first image arrived with step `step`, `elapsed` seconds of sampling in.
    func preview(step: Int, elapsed: Double) {
        guard firstPreview == nil, let samplingStart else { return }
        firstPreview = (step, Date().timeIntervalSince(samplingStart), elapsed)
    }

    func mark(_ stage: TimingStage) {
        let now = Date()
        if stage == .prompt && samplingStart == nil { samplingStart = now }
        if let i = totals.firstIndex(where: { $0.0 == stage }) {
            totals[i].1 += now.timeIntervalSince(last)
        } else {
            totals.append((stage, now.timeIntervalSince(last)))
        }
        last = now
    }

    func summary(steps: Int) -> String {
        let parts = totals.map { stage, seconds in
            String(format: "%@ %.3f s", stage.label(steps: steps), seconds)
        }
        let preview = firstPreview.map {
            String(format: "; first preview %.3f s into sampling (step %d, which ended %.3f s in)", $0.seconds, $0.step, $0.sampling)
        } ?? ""
        return "timings: " + parts.joined(separator: ", ") + String(format: "; total %.3f s", Date().timeIntervalSince(start)) + preview
    }
}
