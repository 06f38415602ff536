import Foundation
import Imaging
import Testing
@testable import Diffusion

/// End-to-end parity with diffusers' `StableDiffusionXLPipeline` / `StableDiffusionXLImg2ImgPipeline`
/// on the tiny random-weight SDXL pipeline of Fixtures/sdxl (made by tools/make_sdxl_fixtures.py;
/// see the README there): two text encoders of different widths, a `text_time` UNet with a
/// transformer depth of 2, the 0.13025 VAE; as a diffusers folder (float32 and fp16) and as SGM
/// single files made by tools/convert_to_single_file.py. The bar is the SD 1.x / 2.x pipelines':
/// max difference <= 2 levels, >= 99% of channel values within 1 level, final latents within 5e-3.
@Suite struct SDXLPipelineTests {
    static var folder: URL { CheckpointFixtures.root.appendingPathComponent("sdxl") }

    /// One case of cases.json.
    struct Case: Decodable, CustomTestStringConvertible {
        var name: String
        var model: String
        var task: String
        var prompt: String
        /// nil: diffusers got `negative_prompt=None` (zeros); stipple passes "".
        var negative_prompt: String?
        var steps: Int
        var cfg: Double
        var seed: UInt64
        var width: Int
        var height: Int
        var sampler: String
        var schedule: String
        var timestep_spacing: String?
        var clip_skip: Int
        /// [height, width]
        var original_size: [Int]?
        /// [top, left]
        var crops_coords_top_left: [Int]
        var strength: Double?
        var init_image: String?
        var output: String

        var testDescription: String { name }
    }

    static let cases: [Case] = {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("cases.json")) else { return [] }
        return (try? JSONDecoder().decode([Case].self, from: data)) ?? []
    }()

    static let latents: SafetensorsFile = {
        try! SafetensorsFile(path: folder.appendingPathComponent("latents.safetensors").path)
    }()

    static let models = ModelCache()

    /// Models loaded once each and shared by the cases.
    final class ModelCache: @unchecked Sendable {
        private var loaded: [String: StableDiffusionModel] = [:]
        private let lock = NSLock()

        func model(_ name: String) throws -> StableDiffusionModel {
            lock.lock()
            defer { lock.unlock() }
            if let model = loaded[name] { return model }
            let model: StableDiffusionModel
            switch name {
            case "sdxl-single": model = try SDXLPipelineTests.singleFile("sdxl.safetensors")
            case "sdxl-fp16-single": model = try SDXLPipelineTests.singleFile("sdxl-fp16.safetensors")
            default: model = try StableDiffusionModel(folder: SDXLPipelineTests.folder.appendingPathComponent(name).path)
            }
            loaded[name] = model
            return model
        }
    }

    /// A single file of the tiny model: the configs the tiny widths need (64-wide heads cannot
    /// be assumed at width 32) from the folder, as diffusers' `from_single_file(config=folder)`.
    static func singleFile(_ file: String) throws -> StableDiffusionModel {
        let reference = folder.appendingPathComponent("sdxl").path
        let component = { (part: String) in try DiffusersComponent(model: reference, component: part) }
        let options = SingleFileCheckpoint.Options(
            textEncoderConfig: try component("text_encoder").loadConfig(CLIPTextConfig.self),
            textEncoder2Config: try component("text_encoder_2").loadConfig(CLIPTextConfig.self),
            unetConfig: try component("unet").loadConfig(UNet2DConditionConfig.self),
            vaeConfig: try component("vae").loadConfig(AutoencoderKLConfig.self))
        let checkpoint = try SingleFileCheckpoint(path: folder.appendingPathComponent(file).path, options: options)
        let tokenizer = try CLIPTokenizer(folder: reference + "/tokenizer")
        let tokenizer2 = try CLIPTokenizer(folder: reference + "/tokenizer_2")
        return try StableDiffusionModel(checkpoint: checkpoint, tokenizer: tokenizer, padToken: tokenizer.pad,
                                        secondTokenizer: tokenizer2,
                                        scheduler: SchedulerConfig.read(from: reference + "/scheduler/scheduler_config.json"))
    }

    static func request(for fixture: Case) throws -> GenerationRequest {
        var request = GenerationRequest(prompt: fixture.prompt)
        request.negativePrompt = fixture.negative_prompt ?? ""
        request.steps = fixture.steps
        request.cfgScale = fixture.cfg
        request.seed = fixture.seed
        request.sampler = try SamplerName(parsing: fixture.sampler)
        request.schedule = try SigmaSchedule(parsing: fixture.schedule)
        request.timestepSpacing = fixture.timestep_spacing.flatMap(TimestepSpacing.init(rawValue:))
        request.clipSkip = fixture.clip_skip
        request.width = fixture.width
        request.height = fixture.height
        if let original = fixture.original_size {
            (request.sizeConditioning.originalHeight, request.sizeConditioning.originalWidth) = (original[0], original[1])
        }
        (request.sizeConditioning.cropTop, request.sizeConditioning.cropLeft) = (fixture.crops_coords_top_left[0], fixture.crops_coords_top_left[1])
        request.preview = .off
        if let initName = fixture.init_image {
            let image = try PNG.read(path: folder.appendingPathComponent(initName).path).image
            request.initImage = PixelImage(width: image.width, height: image.height, rgb: image.flattened().pixels)
            request.strength = fixture.strength ?? 0.75
        }
        return request
    }

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 22)
    }

    @Test(arguments: cases)
    func matchesDiffusers(_ fixture: Case) throws {
        let model = try Self.models.model(fixture.model)
        #expect(model.family == .sdxl)
        let images = try Pipeline(model: model).run(try Self.request(for: fixture))
        #expect(images.count == 1)
        guard let image = images.first else { return }
        let expected = try PNG.read(path: Self.folder.appendingPathComponent(fixture.output).path).image
        #expect(image.image.width == expected.width && image.image.height == expected.height)
        let (worst, withinOne) = PipelineTests.compare(image.image.rgb, expected.flattened().pixels)
        let latents = try Self.latents.tensor(fixture.name)
        let latentError = zip(image.latents.storage, latents.storage).map { abs($0 - $1) }.max() ?? .infinity
        if ProcessInfo.processInfo.environment["STIPPLE_PARITY_TABLE"] == "1" {
            print("sdxl \(fixture.name) max \(worst) within1 \(String(format: "%.4f", withinOne)) latents \(latentError)")
        }
        #expect(image.latents.shape == latents.shape)
        #expect(latentError <= 5e-3, "\(fixture.name): latents differ by up to \(latentError)")
        #expect(worst <= 2, "\(fixture.name): max difference \(worst) levels")
        #expect(withinOne >= 0.99, "\(fixture.name): \(withinOne * 100)% of values within one level")
    }
}
