import Foundation
import Testing
@testable import Diffusion

/// The few-step preset: which path a model takes, what it sets, what it leaves, what it says about
/// the prompt, and that its settings are diffusers' own (its requests give the LCM fixtures' images).
@Suite struct FewStepPresetTests {
    typealias Model = FewStepPreset.Model

    @Test func choosesThePathFromTheModel() {
        let lcm = FewStepPreset(model: Model(name: "lcm-dreamshaper-v7", embedsGuidance: true), prompt: "a cat")
        #expect(lcm.kind == .lcmModel && lcm.sampler == .lcm && lcm.steps == 4 && lcm.cfgScale == 8.5)
        #expect(lcm.timestepSpacing == nil && lcm.schedule == .model && lcm.note == nil)
        // An LCM UNet whose name says turbo is still an LCM UNet: the weights decide first.
        #expect(FewStepPreset(model: Model(name: "turbo-lcm", embedsGuidance: true), prompt: "").kind == .lcmModel)

        for model in [Model(name: "SDXL-Turbo"), Model(name: "sd_turbo.safetensors"),
                      Model(name: "0123abcd", path: "/hf/models--stabilityai--sd-turbo/snapshots/0123abcd")] {
            let turbo = FewStepPreset(model: model, prompt: "a cat")
            #expect(turbo.kind == .turbo && turbo.sampler == .eulerA && turbo.steps == 1 && turbo.cfgScale == 0, "\(model)")
            #expect(turbo.timestepSpacing == .trailing && turbo.schedule == .model)
        }

        // A folder higher up named turbo says nothing about the model.
        #expect(FewStepPreset(model: Model(name: "v1-5", path: "/home/turbo/models/sd15/v1-5"), prompt: "").kind == .lcmLoRA)
        let plain = FewStepPreset(model: Model(name: "v1-5-pruned", path: "/models/v1-5-pruned.safetensors"), prompt: "a cat")
        #expect(plain.kind == .lcmLoRA && plain.sampler == .lcm && plain.steps == 4 && plain.cfgScale == 1)
        #expect(plain.timestepSpacing == nil && plain.preview == nil && plain.decoder == nil)
        #expect(plain.summary == "LCM-LoRA: lcm, 4 steps, CFG 1")
        #expect(FewStepPreset(model: Model(name: "sdxl-turbo"), prompt: "").summary == "Turbo model: euler_a, 1 step, CFG 0, trailing spacing")
    }

    /// An LCM model's own settings file wins over the general LCM settings (CFG 8.5 is far outside
    /// the guidance range shapes-64-lcm was distilled on); a plain model's file says nothing of LCM.
    @Test func anLCMModelsOwnSettingsWin() {
        let own = ModelDefaults(steps: 2, cfgScale: 2)
        let lcm = FewStepPreset(model: Model(name: "shapes-64-lcm", embedsGuidance: true, recommended: own), prompt: "")
        #expect(lcm.kind == .lcmModel && lcm.sampler == .lcm && lcm.steps == 2 && lcm.cfgScale == 2)
        let onlyCFG = FewStepPreset(model: Model(name: "m", embedsGuidance: true, recommended: ModelDefaults(cfgScale: 1.5)), prompt: "")
        #expect(onlyCFG.steps == 4 && onlyCFG.cfgScale == 1.5)
        let plain = FewStepPreset(model: Model(name: "shapes-64", recommended: ModelDefaults(steps: 20, cfgScale: 2)), prompt: "")
        #expect(plain.kind == .lcmLoRA && plain.steps == 4 && plain.cfgScale == 1)
    }

    @Test func tinyDecoderMeansTAESDPreviewsAndDecode() {
        for model in [Model(name: "m", hasTinyDecoder: true), Model(name: "turbo", hasTinyDecoder: true),
                      Model(name: "m", embedsGuidance: true, hasTinyDecoder: true)] {
            let preset = FewStepPreset(model: model, prompt: "")
            #expect(preset.preview == .taesd && preset.decoder == .taesd && preset.summary.hasSuffix(", TAESD"))
        }
    }

    @Test func appliesItsSettingsAndLeavesTheRest() {
        var request = GenerationRequest(prompt: "a cat")
        (request.seed, request.width, request.height, request.negativePrompt) = (7, 64, 48, "dog")
        (request.sampler, request.schedule, request.timestepSpacing, request.steps, request.cfgScale) = (.dpmpp2M, .karras, .leading, 30, 6)
        request.preview = .full
        FewStepPreset(model: Model(name: "m"), prompt: request.prompt).apply(to: &request)
        #expect(request.sampler == .lcm && request.schedule == .model && request.timestepSpacing == nil)
        #expect(request.steps == 4 && request.cfgScale == 1)
        #expect(request.preview == .full && request.decoder == .vae)  // no tiny decoder: left
        #expect(request.seed == 7 && request.width == 64 && request.height == 48 && request.negativePrompt == "dog" && request.prompt == "a cat")
        FewStepPreset(model: Model(name: "sdxl-turbo", hasTinyDecoder: true), prompt: "").apply(to: &request)
        #expect(request.sampler == .eulerA && request.timestepSpacing == .trailing && request.steps == 1 && request.cfgScale == 0)
        #expect(request.preview == .taesd && request.decoder == .taesd)
    }

    @Test func readsTheLoRAsOfThePrompt() {
        #expect(FewStepPreset.loraNames(in: "a cat, <lora:lcm-lora-sdv1-5:1> <lora:style> <lora:two:0.5:0.8>, <lora::1>")
                == ["lcm-lora-sdv1-5", "style", "two"])
        #expect(FewStepPreset.loraNames(in: "<lora:open <lora:closed:1> <lora:unclosed") == ["closed"])
        #expect(FewStepPreset.loraNames(in: "<hypernet:x:1> (lora:1.2) <lora>").isEmpty)
        #expect(FewStepPreset.loraNames(in: "<LoRA: spaced :1> <lyco:locon_style:0.6>") == ["spaced", "locon_style"])

        let missing = FewStepPreset(model: Model(name: "m"), prompt: "a cat <lora:style:0.8>")
        #expect(missing.note?.hasPrefix("no LCM-LoRA in the prompt") == true)
        #expect(FewStepPreset(model: Model(name: "m"), prompt: "a cat <lora:LCM_LoRA_SDXL:1>").note == nil)
        let distilled = FewStepPreset(model: Model(name: "m", embedsGuidance: true), prompt: "a cat <lora:lcm-lora-sdv1-5:1>")
        #expect(distilled.note == "the model is distilled already: lcm-lora-sdv1-5 in the prompt is not needed")
    }

    /// The preset's settings are diffusers' LCM pipeline defaults: its request (with a fixture's
    /// prompt, seed and size) gives the image diffusers made with them, on the LCM UNet (4 steps,
    /// CFG 8.5) and on a plain UNet with LCMScheduler at CFG 1 (the LCM-LoRA setting, LoRA aside).
    @Test(arguments: [("lcm", "lcm-4step", FewStepPreset.Kind.lcmModel),
                      ("../pipelines/sd1", "sd1-lcm-scheduler-4step", .lcmLoRA)])
    func itsRequestGivesDiffusersImage(_ folder: String, _ caseName: String, _ kind: FewStepPreset.Kind) throws {
        let fixture = try #require(LCMPipelineTests.cases.first { $0.name == caseName })
        let model = try LCMPipelineTests.models.model(folder)
        var request = GenerationRequest(prompt: fixture.prompt)
        (request.seed, request.width, request.height, request.preview) = (fixture.seed, fixture.width, fixture.height, .off)
        let preset = FewStepPreset(model: model, prompt: request.prompt)
        #expect(preset.kind == kind && preset.steps == fixture.steps && preset.cfgScale == fixture.cfg)
        preset.apply(to: &request)
        let image = try #require(try Pipeline(model: model).run(request).first)
        try PipelineTests.expectParity(image, png: LCMPipelineTests.folder.appendingPathComponent(fixture.output),
                                       latents: LCMPipelineTests.latents.tensor(fixture.name), label: "preset \(caseName)")
    }

    /// With a tiny decoder loaded the preset's TAESD previews and decode pass the request's checks.
    @Test func aModelWithATinyDecoderValidates() throws {
        let base = try LCMPipelineTests.models.model("../pipelines/sd1")
        let model = try base.withTinyDecoder(AutoencoderTiny.load(path: AutoencoderTinyTests.folder.appendingPathComponent("sd1-taesd").path))
        var request = GenerationRequest(prompt: "a cat")
        (request.width, request.height) = (32, 32)
        let preset = FewStepPreset(model: model, prompt: request.prompt)
        #expect(preset.preview == .taesd && preset.decoder == .taesd)
        preset.apply(to: &request)
        try request.validate(for: model)
        // Without one, the preset leaves them, so the request still validates.
        var plain = GenerationRequest(prompt: "a cat")
        (plain.width, plain.height) = (32, 32)
        FewStepPreset(model: base, prompt: plain.prompt).apply(to: &plain)
        try plain.validate(for: base)
    }
}
