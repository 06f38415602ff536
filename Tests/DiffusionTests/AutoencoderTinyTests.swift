import Foundation
import Testing
@testable import Diffusion
import Imaging
import Tensor

/// diffusers' `AutoencoderTiny` (TAESD) on random weights (Fixtures/taesd, made by
/// tools/make_taesd_fixtures.py): decode and encode equal diffusers' within 1e-4 of the largest
/// value, from the diffusers folder and from madebyollin's original files alike.
@Suite struct AutoencoderTinyTests {
    static var folder: URL { CheckpointFixtures.root.appendingPathComponent("taesd") }

    /// max |a - b| / max |b|.
    static func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        let scale = b.storage.map(abs).max() ?? 1
        return (zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? .infinity) / max(scale, 1e-12)
    }

    @Test(arguments: ["taesd", "narrow", "sd1-taesd"])
    func matchesDiffusersInBothLayouts(_ name: String) throws {
        let references = try SafetensorsFile(path: Self.folder.appendingPathComponent("\(name).reference.safetensors").path)
        let path = Self.folder.appendingPathComponent(name).path
        let diffusers = try AutoencoderTiny.load(path: path)
        let original = try AutoencoderTiny.original(decoder: path + "/taesd_decoder.safetensors")
        #expect(original.config.numDecoderBlocks == diffusers.config.numDecoderBlocks
            && original.config.numEncoderBlocks == diffusers.config.numEncoderBlocks
            && original.config.decoderBlockOutChannels == diffusers.config.decoderBlockOutChannels)
        for model in [diffusers, original] {
            for shape in ["square", "wide"] {
                let latents = try references.tensor("decode.\(shape).latents")
                let image = try model.decode(latents: latents, check: {})
                let expected = try references.tensor("decode.\(shape).image")
                #expect(image.shape == expected.shape)
                #expect(Self.relativeError(image, expected) <= 1e-4, "\(name) decode \(shape)")
                var random = TorchRandomSource(seed: 0)
                let encoded = try model.encode(image: references.tensor("encode.\(shape).image"), random: &random, check: {})
                let expectedLatents = try references.tensor("encode.\(shape).latents")
                #expect(encoded.shape == expectedLatents.shape)
                #expect(Self.relativeError(encoded, expectedLatents) <= 1e-4, "\(name) encode \(shape)")
            }
        }
        #expect(diffusers.downscale == (name == "taesd" ? 8 : name == "narrow" ? 4 : 2))
    }

    @Test func decoderOnlyFileDecodesAndRefusesToEncode() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let decoder = try scratch.path("taesd_decoder.safetensors")
        try FileManager.default.copyItem(atPath: Self.folder.appendingPathComponent("narrow/taesd_decoder.safetensors").path, toPath: decoder)
        let model = try AutoencoderTiny.load(path: decoder)
        #expect(!model.canEncode)
        var random = TorchRandomSource(seed: 0)
        let error = #expect(throws: GenerationError.self) {
            try model.encode(image: Tensor(zeros: [1, 3, 16, 16]), random: &random, check: {})
        }
        #expect(error?.description.contains("has no encoder") == true)
        let missing = #expect(throws: CheckpointError.self) { try AutoencoderTiny.load(path: scratch.url.appendingPathComponent("nothing").path) }
        #expect(missing?.description.contains("no such TAESD file or folder") == true)
    }
}

/// A whole generation whose final image is decoded by the tiny decoder (`--decoder taesd`):
/// diffusers' `StableDiffusionPipeline` with `vae=AutoencoderTiny(...)` on the tiny sd1 pipeline.
@Suite struct TinyDecoderPipelineTests {
    struct Case: Decodable, CustomTestStringConvertible {
        var name: String
        var model: String
        var prompt: String
        var negative_prompt: String
        var steps: Int
        var cfg: Double
        var seed: UInt64
        var width: Int
        var height: Int
        var sampler: String
        var taesd: String
        var output: String
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        let url = AutoencoderTinyTests.folder.appendingPathComponent("cases.json")
        guard let data = try? Data(contentsOf: url) else { return [] }
        return (try? JSONDecoder().decode([Case].self, from: data)) ?? []
    }()

    @Test(arguments: cases)
    func finalDecodeByTheTinyDecoderMatchesDiffusers(_ fixture: Case) throws {
        let base = try PipelineTests.models.model(fixture.model)
        let model = try base.withTinyDecoder(AutoencoderTiny.load(path: AutoencoderTinyTests.folder.appendingPathComponent(fixture.taesd).path))
        var request = GenerationRequest(prompt: fixture.prompt)
        request.negativePrompt = fixture.negative_prompt
        (request.steps, request.cfgScale, request.seed) = (fixture.steps, fixture.cfg, fixture.seed)
        request.sampler = try SamplerName(parsing: fixture.sampler)
        (request.width, request.height) = (fixture.width, fixture.height)
        request.decoder = .taesd
        request.preview = .taesd
        var previews = 0
        let image = try #require(try Pipeline(model: model).run(request) { event in
            if case .step(let progress) = event, progress.preview != nil { previews += 1 }
        }.first)
        #expect(previews == fixture.steps)  // a tiny-decoder preview after every step
        let latents = try SafetensorsFile(path: AutoencoderTinyTests.folder.appendingPathComponent("pipeline-latents.safetensors").path)
            .tensor(fixture.name)
        try PipelineTests.expectParity(image, png: AutoencoderTinyTests.folder.appendingPathComponent(fixture.output),
                                       latents: latents, label: "taesd \(fixture.name)")
        #expect(throws: GenerationError.self) {
            var vaeOnly = request
            vaeOnly.preview = .off
            try vaeOnly.validate(for: base)  // the plain model has no tiny decoder
        }
    }
}
