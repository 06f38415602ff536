import Diffusion
import Testing
@testable import Studio

/// The parameter panel: moving, stepping, typing values, seeds, and the request it makes.
@Suite struct ParameterPanelTests {
    @Test func stepsThroughChoicesAndNumbers() {
        var panel = ParameterPanel(width: 512, height: 512)
        #expect(panel.value(.sampler) == "default")
        panel.adjust(by: 1)
        #expect(panel.sampler == .ddim && panel.value(.sampler) == "DDIM")
        panel.adjust(by: -1)
        panel.adjust(by: -1)
        #expect(panel.sampler == .lcm)  // wraps around
        panel.selectNext()
        panel.adjust(by: 1)
        #expect(panel.selected == .schedule && panel.schedule == .karras)
        panel.selectNext()
        #expect(panel.selected == .spacing && panel.value(.spacing) == "model's")
        panel.adjust(by: -1)
        #expect(panel.timestepSpacing == .linspace)
        panel.adjust(by: 1)
        panel.adjust(by: 1)
        panel.adjust(by: 1)
        #expect(panel.timestepSpacing == .trailing && panel.value(.spacing) == "trailing")
        panel.selectNext()
        panel.adjust(by: -1)
        #expect(panel.steps == 19)
        panel.selectNext()
        panel.adjust(by: 1)
        #expect(panel.cfgScale == 7.5 && panel.value(.cfg) == "7.5")
        panel.selected = .width
        panel.adjust(by: 1)
        #expect(panel.width == 520)
        panel.selectPrevious()
        #expect(panel.selected == .size && panel.value(.size) == "520x512 custom")
        panel.selectPrevious()
        panel.selectPrevious()
        #expect(panel.selected == .seed)
        panel.selected = .sampler
        panel.selectPrevious()
        #expect(panel.selected == .model)
        panel.selectPrevious()
        #expect(panel.selected == .decoder)
        panel.selectPrevious()
        #expect(panel.selected == .preview)
        panel.adjust(by: 1)
        #expect(panel.preview == .full)
    }

    @Test func typedValuesAreCheckedBeforeTheyApply() {
        var panel = ParameterPanel(width: 512, height: 512)
        panel.selected = .steps
        for character in "35" { panel.type(character) }
        #expect(panel.applyTyped() == nil && panel.steps == 35)
        panel.selected = .width
        for character in "500" { panel.type(character) }
        #expect(panel.applyTyped() == "width must be a multiple of 8 from 8 to 8192, not 500")
        #expect(panel.width == 512 && panel.typing == nil)
        panel.selected = .seed
        for character in "9654000861" { panel.type(character) }
        panel.deleteTyped()
        #expect(panel.applyTyped() == nil && panel.seed == 965_400_086 && panel.seedLocked)
        panel.selected = .sampler
        for character in "Euler a" { panel.type(character) }
        #expect(panel.applyTyped() == nil && panel.sampler == .eulerA)
        // A1111's name with its schedule sets both; a typed schedule is read by the same rules.
        for character in "DPM++ 2M Karras" { panel.type(character) }
        #expect(panel.applyTyped() == nil && panel.sampler == .dpmpp2M && panel.schedule == .karras)
        #expect(panel.value(.sampler) == "DPM++ 2M" && panel.value(.schedule) == "karras")
        panel.selected = .schedule
        for character in "Exponential" { panel.type(character) }
        #expect(panel.applyTyped() == nil && panel.schedule == .exponential)
        for character in "karas" { panel.type(character) }
        #expect(panel.applyTyped() == "unknown schedule karas" && panel.schedule == .exponential)
    }

    @Test func requestsDrawNewSeedsUnlessLocked() throws {
        var panel = ParameterPanel(width: 64, height: 64)
        panel.steps = 12
        let first = panel.request(prompt: "a red circle", negative: "blurry")
        #expect(first.seed == panel.seed && first.prompt == "a red circle" && first.negativePrompt == "blurry")
        #expect(first.steps == 12 && first.width == 64 && first.height == 64)
        let seeds = Set((0..<5).map { _ in panel.request(prompt: "x", negative: "").seed! })
        #expect(seeds.count > 1)
        panel.seedLocked = true
        let locked = panel.seed
        #expect(panel.request(prompt: "x", negative: "").seed == locked)
        var loaded = ParameterPanel(width: 8, height: 8)
        var request = GenerationRequest(prompt: "p")
        request.sampler = .dpmpp2M
        request.schedule = .karras
        request.seed = 42
        request.width = 768
        request.height = 512
        loaded.load(request)
        #expect(loaded.sampler == .dpmpp2M && loaded.schedule == .karras && loaded.seed == 42 && loaded.seedLocked)
        #expect(loaded.width == 768 && loaded.height == 512)
        // An A1111 image's noise and sampling, which have no field, run as they came.
        let a1111 = try GenerationRequest(infotext: Infotext.read(
            "p\nSteps: 8, Sampler: Euler a, Seed: 7, Size: 64x64, Variation seed: 9, Variation seed strength: 0.25, ENSD: 31337"))
        loaded.load(a1111)
        let rerun = loaded.request(prompt: "p", negative: "")
        #expect(rerun.noiseSource == .gpu && rerun.samplingConvention == .kDiffusion && rerun.noiseSeedDelta == 31337)
        #expect(rerun.variationSeed == 9 && rerun.variationStrength == 0.25 && rerun.seed == 7)
    }

    @Test func sizeFieldOffersTheFamilysSizes() {
        var panel = ParameterPanel(width: 512, height: 512)
        panel.setModel(name: "juggernaut-xl", family: .sdxl, nativeSize: 1024)
        #expect(panel.value(.model) == "juggernaut-xl (SDXL)")
        #expect((panel.width, panel.height) == (1024, 1024) && panel.value(.size) == "1024x1024 (1:1)")
        panel.selected = .size
        panel.adjust(by: 1)
        #expect((panel.width, panel.height) == (1152, 896) && panel.value(.size) == "1152x896 (9:7)")
        panel.adjust(by: 1)
        panel.adjust(by: 1)
        #expect((panel.width, panel.height) == (1216, 832) && panel.value(.size) == "1216x832 (19:13)")
        panel.adjust(by: -4)
        #expect((panel.width, panel.height) == (640, 1536))  // wraps around
        panel.type("8"); panel.type("3"); panel.type("2"); panel.type("x"); panel.type("1"); panel.type("2"); panel.type("1"); panel.type("6")
        #expect(panel.applyTyped() == nil && (panel.width, panel.height) == (832, 1216))
        panel.type("8"); panel.type("3"); panel.type("3"); panel.type("x"); panel.type("9")
        #expect(panel.applyTyped()?.hasPrefix("width must be") == true && (panel.width, panel.height) == (832, 1216))
        panel.type("w")
        #expect(panel.applyTyped() == "size must be WIDTHxHEIGHT, e.g. 1216x832")

        panel.setModel(name: "v1-5", family: .sd1, nativeSize: 512)
        #expect(panel.value(.model) == "v1-5 (SD 1.x)" && (panel.width, panel.height) == (512, 512))
        panel.adjust(by: 1)
        #expect((panel.width, panel.height) == (576, 448))
        #expect(ModelFamily.presetSizes(nativeSize: 512).count == 9)
        #expect(ModelFamily.presetSizes(nativeSize: 1024).map { "\($0.width)x\($0.height)" }
            == ["1024x1024", "1152x896", "896x1152", "1216x832", "832x1216", "1344x768", "768x1344", "1536x640", "640x1536"])
    }

    @Test func settingsWithoutAFieldPassThrough() {
        var request = GenerationRequest(prompt: "a")
        request.clipSkip = 2
        request.eta = 0.5
        request.timestepSpacing = .trailing
        request.sizeConditioning = SizeConditioning(originalWidth: 2048, originalHeight: 1536, cropTop: 0, cropLeft: 256)
        var panel = ParameterPanel(width: 64, height: 64)
        panel.load(request)
        let made = panel.request(prompt: "b", negative: "")
        #expect(made.clipSkip == 2 && made.eta == 0.5 && made.timestepSpacing == .trailing
            && made.sizeConditioning == request.sizeConditioning)
        panel.selected = .spacing
        for character in "sideways" { panel.type(character) }
        #expect(panel.applyTyped()?.hasPrefix("unknown timestep spacing sideways") == true && panel.timestepSpacing == .trailing)
        panel.type("m"); panel.type("o"); panel.type("d"); panel.type("e"); panel.type("l")
        #expect(panel.applyTyped() == nil && panel.timestepSpacing == nil)
    }
}
