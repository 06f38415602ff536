import Foundation
import Testing
@testable import Diffusion
@testable import Tensor

/// `--weight-type` converts the UNet only (the text encoder and VAE keep reading their weights in
/// place), and one-shot `generate` lets that UNet go before the last decode: the images do not
/// change, and a later call loads it again.
@Suite struct ReloadingDenoiserTests {
    @Test func weightTypeConvertsTheUNetOnlyAndItCanBeLetGoBeforeTheLastDecode() throws {
        let folder = PipelineTests.folder.appendingPathComponent("sd1").path
        let model = try StableDiffusionModel(folder: folder, weightType: .f16)
        let asStored = try PipelineTests.models.model("sd1")
        let reloading = try #require(model.denoiser as? ReloadingDenoiser)
        #expect(!(asStored.denoiser is ReloadingDenoiser))

        var request = GenerationRequest(prompt: "a red house by the sea at sunset")
        request.negativePrompt = "blurry"
        request.steps = 4
        request.seed = 11
        request.batchCount = 2
        request.sampler = .euler
        let kept = try Pipeline(model: model).run(request)
        #expect(reloading.isLoaded)
        let unloaded = try Pipeline(model: model, unloadsDenoiserBeforeLastDecode: true).run(request)
        #expect(!reloading.isLoaded)
        #expect(unloaded.map(\.image) == kept.map(\.image))
        let again = try Pipeline(model: model).run(request)
        #expect(reloading.isLoaded)
        #expect(again.map(\.image) == kept.map(\.image))

        // The text encoder and the VAE are the as-stored ones, bit for bit.
        let (converted, reference) = (Pipeline(model: model), Pipeline(model: asStored))
        let mine = try converted.conditioning(request, guided: true)
        let theirs = try reference.conditioning(request, guided: true)
        #expect(mine.positive.crossAttention.storage == theirs.positive.crossAttention.storage)
        #expect(mine.negative?.crossAttention.storage == theirs.negative?.crossAttention.storage)
        let latents = try #require(kept.first?.latents)
        #expect(try converted.decode(latents, control: GenerationControl())
            == reference.decode(latents, control: GenerationControl()))
    }
}
