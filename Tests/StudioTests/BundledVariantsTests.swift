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
            let pipeline = Pipeline(model: model)
            var correct = (background: 0, colour: 0, position: 0, shape: 0)
            var report: [String] = []
            for (caption, seed) in DefaultModelTests.cases {
                var request = GenerationRequest(prompt: caption)
                settings?.apply(to: &request)
                request.seed = seed
                let image = try #require(try pipeline.run(request).first)
                let verdict = ShapesJudge.judge(rgb: image.image.rgb, width: 64, height: 64)
                let wanted = try #require(ShapesJudge.expected(from: caption))
                correct.background += verdict.background == wanted.background ? 1 : 0
                correct.colour += verdict.colour == wanted.colour ? 1 : 0
                correct.position += verdict.position == wanted.position ? 1 : 0
                correct.shape += verdict.shape == wanted.shape ? 1 : 0
                report.append("\(caption): \(verdict)")
            }
            let summary = "\(model.name) (\(settings?.summary ?? "")): background \(correct.background)/8, colour \(correct.colour)/8, "
                + "position \(correct.position)/8, shape \(correct.shape)/8\n" + report.joined(separator: "\n")
            // Random or mis-wired weights get about 1/8 of the colours, 2/8 of the positions, 3/8 shapes.
            #expect(correct.background >= 7 && correct.colour >= 7 && correct.position >= 7, "\(summary)")
            #expect(correct.shape >= 6, "\(summary)")
        }
    }
}
