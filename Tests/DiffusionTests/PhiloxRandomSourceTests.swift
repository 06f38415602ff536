import Foundation
import Testing
@testable import Diffusion

/// AUTOMATIC1111's Philox generator (its CPU imitation of CUDA's randn), bit for bit against its own
/// code: Fixtures/rng/philox_randn.safetensors, made by tools/make_philox_fixtures.py.
@Suite struct PhiloxRandomSourceTests {
    static let fixture: SafetensorsFile? = try? SafetensorsFile(
        path: CheckpointFixtures.root.appendingPathComponent("rng/philox_randn.safetensors").path)

    @Test func fixtureIsPresent() {
        #expect((Self.fixture?.tensorNames.count ?? 0) == 29)
    }

    /// Every fixture draw (the calls of one generator per seed, and one full 512x512 latent); exact
    /// equality. A call's values depend only on the seed and the call's number (its counter), so
    /// each draw is made on a fresh generator after that many calls of any shape.
    @Test func matchesA1111sGeneratorBitForBit() throws {
        let file = try #require(Self.fixture)
        var compared = 0
        for name in file.tensorNames {
            let parts = name.split(separator: "_")
            guard parts.count == 3, let seed = UInt64(parts[0].dropFirst(4)), let call = Int(parts[1].dropFirst(4)) else {
                Issue.record("unexpected fixture name \(name)")
                continue
            }
            var source = PhiloxRandomSource(seed: seed)
            for _ in 0..<call { _ = source.normal(shape: [1]) }
            let expected = try file.tensor(name)
            let ours = source.normal(shape: expected.shape)
            let mismatches = zip(ours.storage, expected.storage).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(mismatches == 0, "\(name): \(mismatches) of \(expected.count) values differ")
            compared += expected.count
        }
        #expect(compared > 16_384)
    }

    /// A1111's own documented example, seed 0, shape (3, 4), and the stream's basic statistics.
    @Test func documentedExampleAndStatistics() {
        var source = PhiloxRandomSource(seed: 0)
        let first = source.normal(shape: [3, 4])
        let documented: [Float] = [-0.92466259, -0.42534415, -2.6438457, 0.14518388]
        for (a, b) in zip(first.storage.prefix(4), documented) { #expect(abs(a - b) < 1e-6) }
        let many = source.normal(shape: [1 << 16]).storage.map(Double.init)
        let mean = many.reduce(0, +) / Double(many.count)
        let variance = many.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(many.count)
        #expect(abs(mean) < 0.02 && abs(variance - 1) < 0.02)
        #expect(source.calls == 2)
    }

    /// `--rng gpu` starts from Philox noise: diffusers given that noise as `latents` makes the same
    /// image (PNDM, the folder's own, and Euler: samplers that draw nothing after the start).
    @Test(arguments: [("philox-sd1-pndm", SamplerName.default, UInt64(601), 12, 32), ("philox-sd1-euler", .euler, 977, 10, 40)])
    func pipelineFromPhiloxNoiseMatchesDiffusers(_ name: String, _ sampler: SamplerName, _ seed: UInt64, _ steps: Int,
                                                  _ size: Int) throws {
        let folder = CheckpointFixtures.root.appendingPathComponent("rng")
        var request = GenerationRequest(prompt: "a red house by the sea at sunset")
        request.negativePrompt = "blurry, dark"
        (request.sampler, request.seed, request.steps, request.cfgScale) = (sampler, seed, steps, 7.5)
        (request.width, request.height, request.preview, request.noiseSource) = (size, size, .off, .gpu)
        let image = try #require(try Pipeline(model: PipelineTests.models.model("sd1")).run(request).first)
        let latents = try SafetensorsFile(path: folder.appendingPathComponent("philox_pipeline.safetensors").path).tensor(name)
        try PipelineTests.expectParity(image, png: folder.appendingPathComponent(name + ".png"), latents: latents, label: name)
        // The infotext says so in A1111's words, and reads back.
        let text = Infotext(image: image, model: try PipelineTests.models.model("sd1"), modelHash: nil, version: "v").text
        #expect(text.contains("RNG: NV"))
        #expect(try GenerationRequest(infotext: Infotext(parsing: text)).noiseSource == .gpu)
        // torch's CPU noise makes another image.
        request.noiseSource = .cpu
        let cpu = try #require(try Pipeline(model: PipelineTests.models.model("sd1")).run(request).first)
        #expect(cpu.image.rgb != image.image.rgb)
    }
}
