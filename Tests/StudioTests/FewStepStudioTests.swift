import Diffusion
import Foundation
import Imaging
import Terminal
import Testing
@testable import Studio

/// The studio's few-step path (issue 16): the preview and decoder fields (TAESD only with a tiny
/// decoder), the few-step key (F6) as a toggle, and settings from the command line that every
/// request carries (the LoRA folder).
@Suite struct FewStepStudioTests {
    static func press(_ keys: [Key], _ state: inout StudioState) -> [StudioState.Effect] {
        keys.flatMap { StudioKeyMap.handle($0, state: &state, editorWidth: 40) }
    }

    static func type(_ text: String, _ state: inout StudioState) {
        _ = press(text.map { Key.character($0) }, &state)
    }

    static let plain = FewStepPreset.Model(name: "v1-5-pruned", path: "/models/v1-5-pruned.safetensors")
    static let withTiny = FewStepPreset.Model(name: "shapes-64", path: "samples/shapes-64", hasTinyDecoder: true)

    @Test func previewAndDecoderOfferTAESDOnlyWithATinyDecoder() {
        var panel = ParameterPanel(width: 512, height: 512)
        panel.setModel(Self.plain)
        panel.selected = .preview
        var seen: [PreviewMode] = []
        for _ in 0..<4 {
            panel.adjust(by: 1)
            seen.append(panel.preview)
        }
        #expect(seen == [.full, .off, .approx, .full])
        panel.selected = .decoder
        #expect(panel.value(.decoder) == "vae (no tiny decoder)")
        #expect(panel.adjust(by: 1) == ParameterPanel.noTinyDecoder && panel.decoder == .vae)
        for character in "taesd" { panel.type(character) }
        #expect(panel.applyTyped() == ParameterPanel.noTinyDecoder && panel.decoder == .vae)
        panel.selected = .preview
        for character in "TAESD" { panel.type(character) }
        #expect(panel.applyTyped() == ParameterPanel.noTinyDecoder && panel.preview == .full)
        for character in "sharp" { panel.type(character) }
        #expect(panel.applyTyped() == "unknown preview sharp (off, approx, full)")

        panel.setModel(Self.withTiny)
        #expect(panel.previews == [.off, .approx, .full, .taesd])
        panel.adjust(by: 1)
        #expect(panel.preview == .taesd)
        panel.selected = .decoder
        #expect(panel.adjust(by: 1) == nil && panel.decoder == .taesd && panel.value(.decoder) == "taesd")
        let request = panel.request(prompt: "a", negative: "")
        #expect(request.preview == .taesd && request.decoder == .taesd)
        // An image made with TAESD loads its decoder back.
        var loaded = GenerationRequest(prompt: "a")
        loaded.decoder = .taesd
        panel.decoder = .vae
        panel.load(loaded)
        #expect(panel.decoder == .taesd)

        // A model without one: TAESD falls back, and says so; loading a TAESD image keeps the VAE.
        #expect(panel.setModel(Self.plain) == "no tiny decoder: previews approx, decoder vae")
        #expect(panel.preview == .approx && panel.decoder == .vae)
        #expect(panel.setModel(Self.plain) == nil)
        panel.load(loaded)
        #expect(panel.decoder == .vae)
    }

    @Test func theDecoderFieldSaysWhyNotInTheStatus() {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.panel.setModel(Self.plain)
        state.focus = .parameters
        state.panel.selected = .decoder
        _ = Self.press([.right], &state)
        #expect(state.statusKind == .warning && state.status.hasPrefix("This model has no tiny decoder (TAESD)"), "\(state.status)")
        // The panel lists the fields in order, preview and decoder last.
        #expect(ParameterPanel.Field.allCases.suffix(3) == [.strength, .preview, .decoder])
        let screen = HeadlessScreen(rows: 50, columns: 160)
        StudioView().draw(state, on: screen)
        #expect(screen.contains("Preview    approx") && screen.contains("Decoder    \u{2039} vae (no tiny decoder) \u{203A}"), "\(screen.text)")
    }

    @Test func folderAndTilingFromTheCommandLineReachEveryRequest() throws {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.panel.loraFolder = "/loras"
        state.panel.base.embeddingsFolder = "/embeddings"
        (state.panel.base.vaeTiling, state.panel.base.previewLatent) = (.on, .noisy)
        // The command line's own settings in the base are the panel's to set.
        (state.panel.base.steps, state.panel.base.prompt) = (99, "from the command line")
        Self.type("a cat <lora:style:0.5>", &state)
        guard case .generate(let request)? = Self.press([.enter], &state).first else {
            Issue.record("no request")
            return
        }
        #expect(request.loraFolder == "/loras" && request.embeddingsFolder == "/embeddings" && request.vaeTiling == .on)
        #expect(request.previewLatent == .noisy && request.steps == 20 && request.prompt == "a cat <lora:style:0.5>")
        // Loading an image's parameters (which carry no folders) keeps them.
        state.panel.load(try GenerationRequest(infotext: Infotext.read("a dog\nSteps: 5, Sampler: Euler a, CFG scale: 3, Seed: 9, Size: 64x64")))
        guard case .generate(let again)? = Self.press([.enter], &state).first else {
            Issue.record("no request")
            return
        }
        #expect(again.steps == 5 && again.loraFolder == "/loras" && again.embeddingsFolder == "/embeddings" && again.vaeTiling == .on)
    }

    @Test func theFewStepKeySetsThePresetAndAgainPutsTheSettingsBack() throws {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.panel.setModel(Self.withTiny)
        (state.panel.sampler, state.panel.schedule, state.panel.timestepSpacing) = (.dpmpp2M, .karras, .leading)
        (state.panel.steps, state.panel.cfgScale, state.panel.preview) = (30, 6.5, .full)
        let before = state.panel.presetFields
        Self.type("a red circle", &state)

        #expect(Self.press([.function(6)], &state).isEmpty)
        let set = state.panel.presetFields
        #expect(set == ParameterPanel.PresetFields(sampler: .lcm, schedule: .model, timestepSpacing: nil, steps: 4, cfgScale: 1,
                                                   preview: .taesd, decoder: .taesd))
        // No LCM-LoRA in the prompt: said, as a warning.
        #expect(state.statusKind == .warning && state.status == "Few-step preset, LCM-LoRA: lcm, 4 steps, CFG 1, TAESD. F6 again: back. "
            + "No LCM-LoRA in the prompt: 4 steps at CFG 1 stay blurry without one (F7).", "\(state.status)")
        // The whole message is on the status line of a wide window (the key hints make way).
        let screen = HeadlessScreen(rows: 50, columns: 160)
        StudioView().draw(state, on: screen)
        #expect(screen.line(49).hasSuffix("stay blurry without one (F7).") && !screen.line(49).contains("^Q quit"), "\(screen.line(49))")
        guard case .generate(let request)? = Self.press([.enter], &state).first else {
            Issue.record("no request")
            return
        }
        #expect(request.sampler == .lcm && request.steps == 4 && request.cfgScale == 1 && request.decoder == .taesd && request.preview == .taesd)

        _ = Self.press([.function(6)], &state)
        #expect(state.panel.presetFields == before && state.panel.beforePreset == nil)
        #expect(state.status == "Few-step preset off, back to dpmpp_2m, 30 steps, CFG 6.5, previews full, decoder vae.")

        // With an LCM-LoRA in the prompt there is nothing to warn of.
        Self.type(" <lora:lcm-lora-sdv1-5:1>", &state)
        _ = Self.press([.function(6)], &state)
        #expect(state.statusKind == .success && state.status == "Few-step preset, LCM-LoRA: lcm, 4 steps, CFG 1, TAESD. F6 again: back.")
        // A preset field changed by hand: the key sets the preset again (and then puts back the 8 steps).
        state.panel.steps = 8
        _ = Self.press([.function(6)], &state)
        #expect(state.panel.presetFields == set)
        _ = Self.press([.function(6)], &state)
        #expect(state.panel.steps == 8 && state.panel.sampler == .lcm)
    }

    @Test func theKeyFollowsTheLoadedModel() {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.panel.setModel(FewStepPreset.Model(name: "sdxl-turbo"))
        _ = Self.press([.function(6)], &state)
        #expect(state.panel.sampler == .eulerA && state.panel.steps == 1 && state.panel.cfgScale == 0 && state.panel.timestepSpacing == .trailing)
        #expect(state.panel.preview == .approx && state.panel.decoder == .vae)  // no tiny decoder: left
        #expect(state.status == "Few-step preset, Turbo model: euler_a, 1 step, CFG 0, trailing spacing. F6 again: back.")
        // Another model loaded: the key sets that model's preset (it differs from what is shown).
        state.panel.setModel(FewStepPreset.Model(name: "lcm-dreamshaper", embedsGuidance: true))
        _ = Self.press([.function(6)], &state)
        #expect(state.panel.sampler == .lcm && state.panel.steps == 4 && state.panel.cfgScale == 8.5 && state.panel.timestepSpacing == nil)
        // The key works from every panel (it is a function key), even while typing a value.
        state.focus = .parameters
        state.panel.typing = "12"
        _ = Self.press([.function(6)], &state)
        #expect(state.panel.typing == nil && state.panel.sampler == .eulerA)
    }

    /// On the bundled model (it has a tiny decoder): F6 then Enter runs the few-step path through
    /// the real controller and saves an image whose parameters say so, with TAESD previews of
    /// every step at full size.
    @Test func theBundledModelRunsThePreset() throws {
        var studio = try GenerationControllerTests.Studio()
        defer { studio.close() }
        let model = studio.controller.model.target
        #expect(studio.state.panel.setModel(model) == nil && studio.state.panel.model.hasTinyDecoder)
        studio.type("a red circle on a blue background")
        studio.press([.function(6)])
        #expect(studio.state.panel.presetFields.steps == 4 && studio.state.panel.preview == .taesd)
        studio.press([.enter])
        #expect(studio.drain(seconds: 120) { !$0.jobs.running }, "the generation did not end")
        #expect(studio.state.statusKind == .success, "\(studio.state.status)")
        let name = try #require(studio.pngs.first)
        let parameters = try #require(try PNG.read(path: studio.folder.appendingPathComponent(name).path).text("parameters"))
        #expect(parameters.contains("Steps: 4, Sampler: LCM,") && parameters.contains("CFG scale: 1,") && parameters.contains("Decoder: TAESD"),
                "\(parameters)")
        let timeline = try #require(studio.state.current)
        #expect(timeline.frames.count == 4 && timeline.frames.allSatisfy { $0.denoised?.width == 64 && $0.noisy?.width == 64 })
    }
}
