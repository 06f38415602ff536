import Foundation
import Testing
import Tensor
@testable import Diffusion

/// The engine's seams as users meet them: a sampler built for the other kind of model is refused
/// in one line before any work, a flow model's previews show its own clean-sample estimate, the
/// VAE's latent normalisation is applied as diffusers applies it or refused at load, and the
/// model family comes from what differs between the generations.
@Suite struct SeamsTests {
    /// The tiny sd1 pipeline of Fixtures/pipelines copied with a flow-matching scheduler config
    /// (SD3's: FlowMatchEulerDiscreteScheduler, shift 3), so its UNet is declared a flow model.
    static func flowModel() throws -> StableDiffusionModel {
        let source = PipelineTests.folder.appendingPathComponent("sd1")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-flow-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = #"{"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0}"#
        try Data(config.utf8).write(to: folder.appendingPathComponent("scheduler/scheduler_config.json"))
        return try StableDiffusionModel(folder: folder.path)
    }

    static func request(_ sampler: SamplerName, steps: Int = 4) -> GenerationRequest {
        var request = GenerationRequest(prompt: "a red fox in the snow")
        request.negativePrompt = "blurry"
        (request.sampler, request.steps, request.seed, request.width, request.height) = (sampler, steps, 5, 32, 32)
        return request
    }

    /// What `run` threw, as its one line; nil when it did not throw.
    static func refusal(_ model: StableDiffusionModel, _ request: GenerationRequest) -> String? {
        var started = false
        do {
            _ = try Pipeline(model: model).run(request) { if case .started = $0 { started = true } }
            return nil
        } catch {
            #expect(!started, "refused after sampling started")
            return error.description
        }
    }

    @Test func flowSamplersAreRefusedOnDiffusionModels() throws {
        let model = try StableDiffusionModel(folder: SamplerSweepTests.bundledFolder.path)
        #expect(model.parameterisation == .vPrediction)
        let why = try #require(Self.refusal(model, Self.request(.flowEuler)))
        #expect(why == "sampler flow_euler is for flow-matching models, but this model predicts v-prediction "
                + "(a diffusion model); choose a diffusion sampler such as euler_a")
        #expect(!why.contains("\n"))
        let sd1 = try PipelineTests.models.model("sd1")
        #expect(sd1.parameterisation == .epsilon)
        #expect(Self.refusal(sd1, Self.request(.flowEuler))?.contains("predicts epsilon") == true)
    }

    @Test func diffusionSamplersAreRefusedOnFlowModels() throws {
        let model = try Self.flowModel()
        #expect(model.parameterisation == .flow)
        for sampler in SamplerName.allCases where sampler != .flowEuler && sampler != .default {
            let why = try #require(Self.refusal(model, Self.request(sampler)), "\(sampler.rawValue) ran")
            #expect(why.hasPrefix("sampler \(sampler.rawValue) is for diffusion models, but this model predicts flow velocity"),
                    "\(why)")
        }
        // Its own scheduler (`default`) is flow_euler, which runs.
        #expect(Self.refusal(model, Self.request(.default)) == nil)
    }

    /// On a flow model the last step lands exactly on its clean-sample estimate (x - sigma v with
    /// the step to sigma 0), so the last denoised preview is the image's own latents' preview;
    /// the variance-preserving formula previews assumed before gave something else.
    @Test func flowPreviewsShowTheFlowCleanSample() throws {
        let model = try Self.flowModel()
        var request = Self.request(.flowEuler, steps: 5)
        (request.preview, request.previewBothLatents) = (.approx, true)
        var last: StepProgress?
        let image = try Pipeline(model: model).run(request) { if case .step(let p) = $0 { last = p } }[0]
        let progress = try #require(last)
        #expect(progress.step == 5 && progress.previewLatent == .denoised)
        #expect(progress.preview == progress.otherPreview)
        #expect(progress.preview == model.previewFactors.rgb(try image.engineLatents))
    }

    @Test func latentScalingIsDiffusersNormalisation() {
        let z = Tensor(shape: [1, 2, 1, 2], values: [1, -2, 0.5, 4])
        // SD 1.x / 2.x: z * scaling_factor, and back.
        let plain = LatentScaling(scalingFactor: 0.18215)
        #expect(plain.denoiserLatents(z).storage == z.storage.map { $0 * 0.18215 })
        #expect(plain.vaeLatents(z).storage == z.storage.map { $0 / 0.18215 })
        // SD3 / Flux: (z - shift_factor) * scaling_factor; latents / scaling_factor + shift_factor.
        let shifted = LatentScaling(scalingFactor: 1.5305, shiftFactor: 0.0609)
        #expect(shifted.denoiserLatents(z).storage == z.storage.map { ($0 - 0.0609) * 1.5305 })
        #expect(shifted.vaeLatents(z).storage == z.storage.map { $0 / 1.5305 + 0.0609 })
        // Per channel: (z - mean[c]) * scaling_factor / std[c]; latents * std[c] / scaling_factor + mean[c].
        let normalised = LatentScaling(scalingFactor: 0.5, mean: [1, -1], std: [2, 4])
        let (mean, std): ([Float], [Float]) = ([1, 1, -1, -1], [2, 2, 4, 4])  // per element: channel 0, 0, 1, 1
        let toDenoiser: [Float] = (0..<4).map { (z.storage[$0] - mean[$0]) * 0.5 / std[$0] }
        let toVAE: [Float] = (0..<4).map { z.storage[$0] * std[$0] / 0.5 + mean[$0] }
        #expect(normalised.denoiserLatents(z).storage == toDenoiser)
        #expect(normalised.vaeLatents(z).storage == toVAE)
    }

    @Test func vaeConfigsThatMixNormalisationsAreRefusedAtLoad() throws {
        let cases: [(String, String)] = [
            (#"{"latent_channels": 4, "latents_mean": [0, 0, 0, 0]}"#,
             "latents_mean is given without latents_std (latents are normalised with the two together)"),
            (#"{"latent_channels": 4, "latents_std": [1, 1, 1, 1]}"#,
             "latents_std is given without latents_mean (latents are normalised with the two together)"),
            (#"{"latent_channels": 4, "shift_factor": 0.1, "latents_mean": [0, 0, 0, 0], "latents_std": [1, 1, 1, 1]}"#,
             "shift_factor and latents_mean are both given (latents are shifted by one or the other)"),
            (#"{"latent_channels": 4, "latents_mean": [0, 0, 0, 0], "latents_std": [1, 0, 1, 1]}"#,
             "latents_std has a zero entry"),
        ]
        for (json, reason) in cases {
            let config = try AutoencoderKLConfig.decode(json: Data(json.utf8))
            #expect(throws: CheckpointError(path: "", reason: .invalidConfig(reason))) { try config.validate() }
        }
        var applied = try AutoencoderKLConfig.decode(json: Data(#"{"latent_channels": 4, "scaling_factor": 1.5, "shift_factor": 0.25}"#.utf8))
        try applied.validate()
        #expect(LatentScaling(config: applied) == LatentScaling(scalingFactor: 1.5, shiftFactor: 0.25))
        applied.shiftFactor = nil
        #expect(LatentScaling(config: applied) == LatentScaling(scalingFactor: 1.5))
    }

    @Test func familyComesFromTheTextEncoderAndCrossAttentionWidth() throws {
        let configs = CheckpointFixtures.root.appendingPathComponent("configs")
        func text(_ name: String) throws -> CLIPTextConfig {
            try CLIPTextConfig.decode(json: Data(contentsOf: configs.appendingPathComponent(name)))
        }
        let sd15 = try text("sd15-text_encoder.json"), sd21 = try text("sd21-text_encoder.json")
        #expect(ModelFamily(textEncoder: sd15, crossAttentionWidth: 768) == .sd1)
        #expect(ModelFamily(textEncoder: sd21, crossAttentionWidth: 1024) == .sd2)
        // Small models: the encoder's activation (OpenCLIP's gelu, OpenAI CLIP's quick_gelu).
        #expect(try PipelineTests.models.model("sd1").family == .sd1)
        #expect(try PipelineTests.models.model("sd2").family == .sd2)
        #expect(try StableDiffusionModel(folder: SamplerSweepTests.bundledFolder.path).family == .sd1)
        #expect(ModelFamily.sd2.padToken == .exclamationMark && ModelFamily.sd1.padToken == .endOfText)
    }

    @Test func conditioningBatchesEveryPartInOrder() {
        let a = Conditioning(crossAttention: Tensor(shape: [1, 2, 3], repeating: 1), pooled: Tensor(shape: [1, 4], repeating: 2),
                             timeIds: Tensor(shape: [1, 6], repeating: 3))
        let b = Conditioning(crossAttention: Tensor(shape: [1, 2, 3], repeating: -1), pooled: Tensor(shape: [1, 4], repeating: -2),
                             timeIds: Tensor(shape: [1, 6], repeating: -3))
        let both = a.batched(with: b)
        #expect(both.crossAttention.shape == [2, 2, 3] && both.crossAttention.storage == [Float](repeating: 1, count: 6) + [Float](repeating: -1, count: 6))
        #expect(both.pooled?.shape == [2, 4] && both.pooled?.storage.last == -2)
        #expect(both.timeIds?.shape == [2, 6] && both.timeIds?.storage.first == 3)
        let plain = Conditioning(crossAttention: Tensor(shape: [1, 2, 3], repeating: 0)).batched(with: Conditioning(crossAttention: Tensor(shape: [1, 2, 3], repeating: 0)))
        #expect(plain.pooled == nil && plain.timeIds == nil)
    }
}
