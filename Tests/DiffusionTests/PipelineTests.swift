import Foundation
import Imaging
import Tensor
import Testing
@testable import Diffusion

/// End-to-end parity with diffusers' `StableDiffusionPipeline` / `StableDiffusionImg2ImgPipeline`
/// on the tiny random-weight pipelines of Fixtures/pipelines (made by
/// tools/make_pipeline_fixtures.py; see the README there): the same prompt, seed, sampler and
/// settings must give the same pixels, within diffusers' own float32 noise: max difference
/// <= 2 levels and >= 99% of channel values within 1 level. The final latents (before the VAE)
/// must be within 5e-3 of diffusers' (float64 vs float32 moves them by at most 2.4e-4; the
/// smallest real error seen, DPM2 Karras with unrounded timesteps, moves them by 1.2e-2):
/// the image bar alone is loose for the epsilon models, whose decoder reacts mostly to the
/// latents' pattern.
@Suite struct PipelineTests {
    static var folder: URL { CheckpointFixtures.root.appendingPathComponent("pipelines") }

    typealias Case = PipelineCase

    static let cases = PipelineCase.load(from: folder)

    static let latents: SafetensorsFile = {
        try! SafetensorsFile(path: folder.appendingPathComponent("latents.safetensors").path)
    }()

    /// Models are loaded once per folder and shared by the cases (as the studio shares one).
    static let models = ModelCache { try StableDiffusionModel(folder: folder.appendingPathComponent($0).path) }

    /// Models by name, each loaded once by `load` (which must not use the cache itself).
    final class ModelCache: @unchecked Sendable {
        private var loaded: [String: StableDiffusionModel] = [:]
        private let lock = NSLock()
        private let load: (String) throws -> StableDiffusionModel

        init(load: @escaping (String) throws -> StableDiffusionModel) {
            self.load = load
        }

        func model(_ name: String) throws -> StableDiffusionModel {
            lock.lock()
            defer { lock.unlock() }
            if let model = loaded[name] { return model }
            let model = try load(name)
            loaded[name] = model
            return model
        }
    }

    static func request(for fixture: Case) throws -> GenerationRequest {
        try fixture.request(imagesIn: folder)
    }

    /// (max difference, fraction within one level) between two RGB byte arrays.
    static func compare(_ ours: [UInt8], _ theirs: [UInt8]) -> (max: Int, withinOne: Double) {
        var worst = 0, close = 0
        for (a, b) in zip(ours, theirs) {
            let d = abs(Int(a) - Int(b))
            worst = max(worst, d)
            if d <= 1 { close += 1 }
        }
        return (worst, Double(close) / Double(max(ours.count, 1)))
    }

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 63)
    }

    /// The pipeline bar, for every parity suite: `image` against diffusers' PNG at `png` and its
    /// final latents: max difference <= 2 levels, >= 99% of values within one level, latents within
    /// 5e-3 (printed with STIPPLE_PARITY_TABLE=1 under `label`).
    static func expectParity(_ image: GeneratedImage, png: URL, latents: Tensor, label: String,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try PNG.read(path: png.path).image
        #expect(image.image.width == expected.width && image.image.height == expected.height, sourceLocation: sourceLocation)
        let (worst, withinOne) = compare(image.image.rgb, expected.flattened().pixels)
        let latentError = zip(try image.engineLatents.storage, latents.storage).map { abs($0 - $1) }.max() ?? .infinity
        if ProcessInfo.processInfo.environment["STIPPLE_PARITY_TABLE"] == "1" {
            print("\(label) max \(worst) within1 \(String(format: "%.4f", withinOne)) latents \(latentError)")
        }
        #expect(try image.engineLatents.shape == latents.shape, sourceLocation: sourceLocation)
        #expect(latentError <= 5e-3, "\(label): latents differ by up to \(latentError)", sourceLocation: sourceLocation)
        #expect(worst <= 2, "\(label): max difference \(worst) levels", sourceLocation: sourceLocation)
        #expect(withinOne >= 0.99, "\(label): \(withinOne * 100)% of values within one level", sourceLocation: sourceLocation)
    }

    @Test(arguments: cases)
    func matchesDiffusers(_ fixture: Case) throws {
        let model = try Self.models.model(fixture.model)
        let images = try Pipeline(model: model).run(try Self.request(for: fixture))
        #expect(images.count == 1)
        guard let image = images.first else { return }
        try Self.expectParity(image, png: Self.folder.appendingPathComponent(fixture.output),
                              latents: Self.latents.tensor(fixture.name), label: "pipeline \(fixture.name)")
    }
}

/// A single-file checkpoint converted from the tiny sd1/sd2 models generates the same image as
/// the diffusers folder holding the same weights.
@Suite struct SingleFilePipelineTests {
    @Test(arguments: ["sd1", "sd2"])
    func singleFileGivesTheFolderModelsImage(_ name: String) throws {
        let folder = PipelineTests.folder.appendingPathComponent(name).path
        let component = { (part: String) in try DiffusersComponent(model: folder, component: part) }
        let options = SingleFileCheckpoint.Options(
            textEncoderConfig: try component("text_encoder").loadConfig(CLIPTextConfig.self),
            unetConfig: try component("unet").loadConfig(UNet2DConditionConfig.self),
            vaeConfig: try component("vae").loadConfig(AutoencoderKLConfig.self))
        let file = CheckpointFixtures.root.appendingPathComponent("single_file/\(name).safetensors").path
        let checkpoint = try SingleFileCheckpoint(path: file, options: options)
        let tokenizer = try CLIPTokenizer(folder: folder + "/tokenizer")
        let folderModel = try PipelineTests.models.model(name)
        let single = try StableDiffusionModel(checkpoint: checkpoint, tokenizer: tokenizer, padToken: tokenizer.pad,
                                              scheduler: folderModel.scheduler)
        #expect(single.family.rawValue == name)
        var request = GenerationRequest(prompt: "a red house by the sea at sunset")
        request.negativePrompt = "blurry"
        request.steps = 5
        request.seed = 9
        request.sampler = .eulerA
        let ours = try Pipeline(model: single).run(request)[0]
        let reference = try Pipeline(model: folderModel).run(request)[0]
        #expect(ours.image == reference.image)
        #expect(try ours.engineLatents.storage == reference.engineLatents.storage)
    }
}

extension GeneratedImage {
    /// The latents the embedded engine always returns (a server's image has none).
    var engineLatents: Tensor {
        get throws { try #require(latents) }
    }
}
