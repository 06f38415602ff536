import Foundation
import Imaging
import Testing
@testable import Diffusion

/// An image made the way AUTOMATIC1111 makes it (k-diffusion's samplers on its uniform schedule,
/// its ImageRNG noise: Philox for its default GPU source, torch's CPU generator for "CPU", variation
/// seeds, eta noise seed delta) is made again from the parameters text it carries, as
/// `generate --from` does: Fixtures/rng/a1111-*.png, made by tools/make_a1111_sampling_fixtures.py.
@Suite struct A1111SamplingTests {
    static let folder = CheckpointFixtures.root.appendingPathComponent("rng")
    static let cases = ["a1111-euler-a", "a1111-euler-a-ensd", "a1111-euler-a-cpu", "a1111-euler-variation",
                        "a1111-heun", "a1111-lms", "a1111-dpmpp-2m-karras", "a1111-dpmpp-2m-uniform", "a1111-euler-a-karras"]

    static func request(_ name: String) throws -> GenerationRequest {
        let texts = try PNG.readAllTexts(path: folder.appendingPathComponent(name + ".png").path).texts
        let text = try #require(texts.first { $0.key == "parameters" }?.value)
        var request = try GenerationRequest(infotext: Infotext.read(text))
        request.preview = .off
        return request
    }

    @Test(arguments: cases)
    func rerunFromItsParametersMatchesA1111(_ name: String) throws {
        let request = try Self.request(name)
        // What the text asks for, read as A1111 meant it.
        #expect(request.samplingConvention == .kDiffusion)
        #expect(request.noiseSource == (name.hasSuffix("-cpu") ? .cpu : .gpu))
        let model = try PipelineTests.models.model("sd1")
        let image = try #require(try Pipeline(model: model).run(request).first)
        let latents = try SafetensorsFile(path: Self.folder.appendingPathComponent("a1111_sampling.safetensors").path).tensor(name)
        try PipelineTests.expectParity(image, png: Self.folder.appendingPathComponent(name + ".png"), latents: latents,
                                       label: name)
        // Written back, the text keeps what made the noise, and reads back to the same request.
        let written = Infotext(image: image, model: model, modelHash: nil, version: "stipple test")
        let again = try GenerationRequest(infotext: Infotext(parsing: written.text))
        #expect(again.samplingConvention == .kDiffusion && again.schedule == request.schedule)
        #expect(again.noiseSource == request.noiseSource)
        #expect(again.variationSeed == request.variationSeed && again.variationStrength == request.variationStrength)
        #expect(again.noiseSeedDelta == request.noiseSeedDelta)
    }

    /// Each piece matters: diffusers' samplers (the model's leading spacing; DPM-Solver from unit noise
    /// at rounded timesteps), no ENSD, no variation seed, each gives latents well outside the bar.
    @Test func eachPieceChangesTheImage() throws {
        let model = try PipelineTests.models.model("sd1")
        let file = try SafetensorsFile(path: Self.folder.appendingPathComponent("a1111_sampling.safetensors").path)
        func distance(_ name: String, _ change: (inout GenerationRequest) -> Void) throws -> Float {
            var request = try Self.request(name)
            change(&request)
            let image = try #require(try Pipeline(model: model).run(request).first)
            return zip(try image.engineLatents.storage, try file.tensor(name).storage).map { abs($0 - $1) }.max() ?? 0
        }
        #expect(try distance("a1111-euler-a") { $0.samplingConvention = .diffusers } > 0.05)
        #expect(try distance("a1111-dpmpp-2m-karras") { $0.samplingConvention = .diffusers } > 0.05)
        #expect(try distance("a1111-euler-a-ensd") { $0.noiseSeedDelta = nil } > 0.05)
        #expect(try distance("a1111-euler-variation") { $0.variationStrength = 0 } > 0.05)
    }

    /// The stream after the starting noise: going on (nil), or a new one at seed + delta. Delta 0 is
    /// ComfyUI's rule: its first ancestral noise is the starting noise's values again.
    @Test(arguments: [NoiseSource.cpu, .gpu])
    func seedDeltaStartsTheStreamAgain(_ source: NoiseSource) {
        let shape = [1, 4, 8, 8]
        var going = NoiseStream(source, seed: 42)
        let start = going.startNoise(shape: shape).storage
        #expect(going.normal(shape: shape).storage != start)
        var comfy = NoiseStream(source, seed: 42, seedDelta: 0)
        #expect(comfy.startNoise(shape: shape).storage == start)
        #expect(comfy.normal(shape: shape).storage == start)
        var ensd = NoiseStream(source, seed: 42, seedDelta: 31337)
        _ = ensd.startNoise(shape: shape)
        var other = NoiseStream(source, seed: 42 + 31337)
        #expect(ensd.normal(shape: shape).storage == other.normal(shape: shape).storage)
    }

    /// A variation strength of 1 starts from the variation seed's noise alone (slerp's far end): with
    /// a sampler that draws nothing after the start, the image of seed 5 varied fully towards 9 is
    /// the image of seed 9. In img2img the blend is of the noise added to the image, not of the
    /// VAE's sampling noise drawn before it, so half-way differs from both ends there too.
    @Test func variationStrengthOneIsTheVariationSeedsImage() throws {
        let model = try PipelineTests.models.model("sd1")
        var request = GenerationRequest(prompt: "a red house")
        (request.steps, request.width, request.height, request.sampler, request.preview) = (4, 32, 32, .euler, .off)
        request.seed = 9
        let plain = try #require(try Pipeline(model: model).run(request).first)
        (request.seed, request.variationSeed, request.variationStrength) = (5, 9, 1)
        let varied = try #require(try Pipeline(model: model).run(request).first)
        #expect(zip(try varied.engineLatents.storage, try plain.engineLatents.storage).map { abs($0 - $1) }.max() ?? 1 < 1e-4)
        request.initImage = PixelImage(width: 32, height: 32, rgb: [UInt8](repeating: 128, count: 32 * 32 * 3))
        request.strength = 0.8
        var latents: [[Float]] = []
        for strength in [0, 0.5, 1.0] {
            request.variationStrength = strength
            latents.append(try #require(try Pipeline(model: model).run(request).first).engineLatents.storage)
        }
        #expect(latents[0] != latents[1] && latents[1] != latents[2] && latents[0] != latents[2])
    }

    /// k-diffusion's uniform sigmas for SD's schedule: the ends are the model's largest and smallest
    /// training sigmas, and in between they sit on the log-sigma line between training steps.
    @Test func uniformScheduleIsKDiffusions() throws {
        var config = SchedulerConfig()
        (config.betaStart, config.betaEnd, config.betaSchedule) = (0.00085, 0.012, "scaled_linear")
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: false)
        let (sigmas, timesteps) = schedule.kDiffusionUniform(steps: 20)
        #expect(sigmas.count == 20 && timesteps.count == 20)
        #expect(sigmas.first == schedule.sigmas.last && abs(sigmas.last! - schedule.sigmas[0]) < 1e-6)
        #expect(abs(timesteps[0] - 999) < 1e-3 && abs(timesteps[19]) < 1e-3)
        // t = 999 * 18/19 = 946.42...: between training steps 946 and 947.
        let t = Double(timesteps[1])
        #expect(abs(t - 999.0 * 18 / 19) < 2e-3)
        let (low, high) = (Double(schedule.sigmas[946]), Double(schedule.sigmas[947]))
        let w = t - 946
        #expect(abs(Double(sigmas[1]) - exp((1 - w) * log(low) + w * log(high))) < 1e-5)
        // The samplers that take it run it; the others refuse it by name.
        #expect(throws: SamplerError.self) { _ = try makeSampler(name: .dpmpp2M, schedule: .uniform, config: config, steps: 20) }
        let euler = try makeSampler(name: .eulerA, schedule: .uniform, config: config, steps: 20)
        #expect(euler.initNoiseSigma == sigmas[0])
    }
}
