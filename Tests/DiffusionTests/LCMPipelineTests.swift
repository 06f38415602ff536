import Foundation
import Imaging
import Testing
@testable import Diffusion

/// Parity with diffusers' `LatentConsistencyModelPipeline` / `LatentConsistencyModelImg2ImgPipeline`
/// on a tiny LCM-distilled UNet (`time_cond_proj_dim`: the guidance scale is an input, one UNet
/// pass a step), and with `StableDiffusionPipeline` running a plain SD UNet with `LCMScheduler` at
/// CFG 1 (what LCM-LoRA users run); Fixtures/lcm, made by tools/make_lcm_fixtures.py. The bar is
/// the pipelines': <= 2 levels, >= 99% within one level, latents within 5e-3.
@Suite struct LCMPipelineTests {
    static var folder: URL { CheckpointFixtures.root.appendingPathComponent("lcm") }

    static let cases = PipelineCase.load(from: folder)

    static let latents: SafetensorsFile = {
        try! SafetensorsFile(path: folder.appendingPathComponent("latents.safetensors").path)
    }()

    static let models = PipelineTests.ModelCache { try StableDiffusionModel(folder: folder.appendingPathComponent($0).standardized.path) }

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 10)
    }

    @Test func lcmUNetTakesTheGuidanceScale() throws {
        let model = try Self.models.model("lcm")
        #expect(model.denoiser.embedsGuidance)
        #expect(try !Self.models.model("../pipelines/sd1").denoiser.embedsGuidance)
    }

    @Test(arguments: cases)
    func matchesDiffusers(_ fixture: PipelineCase) throws {
        let model = try Self.models.model(fixture.folder ?? "")
        let request = try fixture.request(imagesIn: Self.folder)
        let image = try #require(try Pipeline(model: model).run(request).first)
        try PipelineTests.expectParity(image, png: Self.folder.appendingPathComponent(fixture.output),
                                       latents: Self.latents.tensor(fixture.name), label: "lcm \(fixture.name)")
    }
}
