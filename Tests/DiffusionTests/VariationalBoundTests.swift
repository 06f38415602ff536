import Foundation
import Imaging
import Tensor
import Testing
@testable import Diffusion

/// The variational bound (`stipple eval`) against PyTorch: every term of every image equals
/// tools/variational_bound.py's on the random-weight SD1 (epsilon) and SD2 (v-prediction)
/// pipelines, and what has no such bound is refused in one line.
@Suite struct VariationalBoundTests {
    static let folder = PipelineTests.folder.deletingLastPathComponent().appendingPathComponent("bound")

    struct Expected: Decodable {
        struct Image: Decodable {
            let prompt: String
            let prior_nats: Double
            let diffusion_nats: Double
            let decoder_nats: Double
            let bits_per_dim: Double
        }
        let dimensions: Int
        let timesteps_evaluated: Int
        let bits_per_dim: Double
        let per_image: [Image]
    }

    static func latents(_ model: StableDiffusionModel) throws -> (Tensor, [String]) {
        var zero = ZeroRandomSource()  // the VAE's posterior mean, as the tool uses
        var parts: [Tensor] = []
        var prompts: [String] = []
        for k in 0..<2 {
            let png = try PNG.read(path: folder.appendingPathComponent("image-\(k).png").path)
            let rgb = png.image.flattened(over: (255, 255, 255))
            let image = PixelImage(width: rgb.width, height: rgb.height, rgb: rgb.pixels)
            parts.append(try model.decoder.encode(image: image.normalized, random: &zero, check: {}))
            prompts.append(png.text("parameters") ?? "")
        }
        return (concatBatch(parts[0], parts[1]), prompts)
    }

    @Test(arguments: ["sd1", "sd2"]) func everyTermEqualsPyTorchs(_ name: String) throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent("expected.json"))
        let expected = try #require(try JSONDecoder().decode([String: Expected].self, from: data)[name])
        let model = try PipelineTests.models.model(name)
        let bound = try VariationalBound(model: model)
        let (z0, prompts) = try Self.latents(model)
        #expect(prompts == expected.per_image.map(\.prompt))
        #expect(bound.timesteps(count: 25).count == expected.timesteps_evaluated)
        let terms = try bound.evaluate(latents: z0, prompts: prompts, seed: 7, timestepCount: 25, batchSize: 1)
        let dimensions = z0.count / 2
        #expect(dimensions == expected.dimensions)
        for (got, want) in zip(terms, expected.per_image) {
            // float32 networks on both sides; the terms sum thousands of squared differences.
            for (a, b, what) in [(got.prior, want.prior_nats, "prior"), (got.diffusion, want.diffusion_nats, "diffusion"),
                                 (got.decoder, want.decoder_nats, "decoder")] {
                #expect(abs(a - b) <= 1e-3 * max(1, abs(b)), "\(name) \(what): \(a) vs PyTorch's \(b)")
            }
            #expect(abs(got.bitsPerDimension(dimensions) - want.bits_per_dim) <= 1e-3 * abs(want.bits_per_dim))
        }
        // The batch size changes nothing: each image's noise comes from its own generator.
        let batched = try bound.evaluate(latents: z0, prompts: prompts, seed: 7, timestepCount: 25, batchSize: 2)
        for (a, b) in zip(terms, batched) { #expect(abs(a.total - b.total) <= 1e-6 * abs(a.total)) }
    }

    @Test func timestepsSpreadOverTheSchedule() throws {
        let bound = try VariationalBound(model: try PipelineTests.models.model("sd1"))
        #expect(bound.timesteps(count: nil) == Array(1...999))
        #expect(bound.timesteps(count: 5000) == Array(1...999))
        #expect(bound.timesteps(count: 4) == [1, 333, 666, 999])
        #expect(bound.timesteps(count: 1) == [1])
    }

    @Test func modelsWithoutABoundAreRefused() throws {
        do {
            _ = try VariationalBound(model: try SeamsTests.flowModel())
            Issue.record("a flow model was evaluated")
        } catch let error as GenerationError {
            #expect(error.description.contains("flow-matching model") && !error.description.contains("\n"))
        }
        let lcm = PipelineTests.folder.deletingLastPathComponent().appendingPathComponent("lcm/lcm")
        do {
            _ = try VariationalBound(model: try StableDiffusionModel(folder: lcm.path))
            Issue.record("an LCM model was evaluated")
        } catch let error as GenerationError {
            #expect(error.description.contains("LCM-distilled"))
        }
    }
}
