import Diffusion
import Foundation
import Imaging
import Testing
@testable import Studio

/// Every bundled model (samples/shapes-64 and its variants: linear schedule, LCM, rectified flow)
/// through the Swift engine at its own settings (`stipple_defaults.json`, its own sampler): the
/// eight held-out captions of DefaultModelTests judged by the port of tools/judge_shapes.py.
/// What a person gets pressing Left/Right on the Model field and Enter.
@Suite struct BundledVariantsTests {
    @Test func everyBundledModelDrawsWhatTheCaptionsAsk() throws {
        let models = ModelLocator.bundledModels()
        #expect(models.first.map { URL(fileURLWithPath: $0).lastPathComponent } == "shapes-64")
        for path in models {
            let model = try StableDiffusionModel(folder: path)
            let settings = try model.recommendedSettings()
            #expect(settings != nil, "\(model.name) has no stipple_defaults.json")
            if model.denoiser.embedsGuidance {
                // The few-step key (F6) on an LCM model runs it at its own settings too.
                let preset = FewStepPreset(model: model, prompt: "")
                #expect(preset.steps == settings?.steps && preset.cfgScale == settings?.cfgScale, "\(preset.summary)")
            }
            let pipeline = Pipeline(model: model)
            var correct = ShapesJudge.Tally()
            for (caption, seed) in DefaultModelTests.cases {
                var request = GenerationRequest(prompt: caption)
                settings?.apply(to: &request)
                request.seed = seed
                let image = try #require(try pipeline.run(request).first)
                let verdict = correct.add(rgb: image.image.rgb, caption: caption, seed: seed)
                _ = try #require(verdict, "\(caption) is not a caption the judge reads")
            }
            let summary = "\(model.name) (\(settings?.summary ?? "")): " + correct.summary
            // Random or mis-wired weights get about 1/8 of the colours, 2/8 of the positions, 3/8 shapes.
            #expect(correct.background >= 7 && correct.colour >= 7 && correct.position >= 7, "\(summary)")
            #expect(correct.shape >= 6, "\(summary)")
        }
    }
}
