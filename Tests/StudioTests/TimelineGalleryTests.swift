import Diffusion
import Foundation
import Imaging
import Terminal
import Testing
@testable import Studio

/// The timeline (every step kept, scrubbing, denoised/noisy, the contact sheet) and the gallery
/// (earlier sessions' images listed from their PNG parameters, opened, loaded back into the
/// controls), through the state and key map the studio runs on.
@Suite struct TimelineGalleryTests {
    /// A solid-colour preview whose red channel encodes the step and green the latent kind.
    static func preview(step: Int, noisy: Bool, size: Int = 8) -> PixelImage {
        PixelImage(width: size, height: size, rgb: (0..<size * size).flatMap { _ in [UInt8(step * 10), noisy ? 200 : 50, 7] })
    }

    static func progress(_ step: Int, total: Int, previews: Bool = true) -> StepProgress {
        StepProgress(imageIndex: 0, imageCount: 1, step: step, total: total, timestep: Float(1000 - step * 100), elapsed: 0.1,
                     stepsPerSecond: 10, preview: previews ? preview(step: step, noisy: false) : nil, previewLatent: .denoised,
                     otherPreview: previews ? preview(step: step, noisy: true) : nil)
    }

    static func key(_ key: Key, _ state: inout StudioState) -> [StudioState.Effect] {
        StudioKeyMap.handle(key, state: &state, editorWidth: 40)
    }

    /// A state that ran one generation of `steps` steps to its final image.
    static func stateAfterRun(steps: Int = 5, seed: UInt64 = 42) -> StudioState {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        var request = GenerationRequest(prompt: "a red circle")
        request.steps = steps
        request.seed = seed
        state.beginTimeline(request: request, seed: seed)
        for step in 1...steps { state.current?.append(progress(step, total: steps)) }
        state.current?.final = PixelImage(width: 16, height: 16, rgb: [UInt8](repeating: 255, count: 16 * 16 * 3))
        return state
    }

    @Test func scrubbingWalksEveryStepAndTogglesTheLatent() {
        var state = Self.stateAfterRun()
        #expect(state.shownImage?.step == nil && state.shownImage?.image.width == 16)  // following: the final image
        for _ in 0..<3 { _ = Self.key(.tab, &state) }
        #expect(state.focus == .image)
        _ = Self.key(.home, &state)
        #expect(state.shownImage?.step == 1)
        #expect(state.shownImage?.image == Self.preview(step: 1, noisy: false))
        _ = Self.key(.right, &state)
        _ = Self.key(.character("]"), &state)
        #expect(state.shownImage?.step == 3)
        _ = Self.key(.character("d"), &state)
        #expect(state.latent == .noisy && state.shownImage?.image == Self.preview(step: 3, noisy: true))
        _ = Self.key(.function(3), &state)
        #expect(state.latent == .denoised)
        _ = Self.key(.left, &state)
        #expect(state.shownImage?.step == 2)
        for _ in 0..<10 { _ = Self.key(.left, &state) }
        #expect(state.shownImage?.step == 1, "stops at the first step")
        for _ in 0..<4 { _ = Self.key(.right, &state) }
        #expect(state.shownImage?.step == 5)
        _ = Self.key(.right, &state)
        #expect(state.frameIndex == nil && state.shownImage?.step == nil, "past the last step: the final image again")
        // PgUp/PgDn scrub from any panel, the prompt included, without typing into it.
        _ = Self.key(.tab, &state)
        #expect(state.focus == .prompt)
        _ = Self.key(.pageUp, &state)
        #expect(state.shownImage?.step == 5 && state.prompt.text.isEmpty)
        #expect(Self.key(.function(4), &state) == [.exportTimeline])
    }

    @Test func theLastGenerationStaysReachable() {
        var state = Self.stateAfterRun(steps: 3, seed: 1)
        var next = GenerationRequest(prompt: "a blue square")
        next.steps = 4
        state.beginTimeline(request: next, seed: 2)
        state.current?.append(Self.progress(1, total: 4))
        #expect(state.previous?.seed == 1 && state.previous?.frames.count == 3)
        #expect(state.shownImage?.seed == 2 && state.shownImage?.step == 1)
        state.focus = .image
        _ = Self.key(.up, &state)
        #expect(state.viewingPrevious && state.shownImage?.seed == 1 && state.shownImage?.step == nil)
        _ = Self.key(.home, &state)
        #expect(state.shownImage?.step == 1 && state.shownImage?.seed == 1)
        _ = Self.key(.down, &state)
        #expect(!state.viewingPrevious && state.shownImage?.seed == 2)
        #expect(StudioView.imageTitle(state).contains("step 1/4 denoised"))
    }

    @Test func stepsWithoutPreviewsShowTheNearestEarlierOne() {
        var timeline = Timeline(request: GenerationRequest(prompt: "x"), seed: 0)
        timeline.append(Self.progress(1, total: 3))
        timeline.append(Self.progress(2, total: 3, previews: false))
        #expect(timeline.image(at: 1, latent: .denoised)?.step == 1)
        #expect(timeline.image(at: nil, latent: .noisy)?.image == Self.preview(step: 1, noisy: true))
        #expect(Timeline(request: GenerationRequest(prompt: "x"), seed: 0).image(at: nil, latent: .denoised) == nil)
    }

    @Test func contactSheetHasEveryStepInOrderWithLabels() throws {
        let state = Self.stateAfterRun(steps: 5)
        let timeline = try #require(state.current)
        let sheet = ContactSheet()
        let image = try #require(sheet.render(timeline, latent: .denoised))
        // Six cells (5 steps + final) in a 3-column grid; the final image is 16x16 so cells are
        // minCell (128) square, with a label row under each.
        let cell = 128, gap = sheet.gap, label = sheet.labelHeight
        #expect(image.width == gap + 3 * (cell + gap))
        #expect(image.height == gap + 2 * (cell + label + gap))
        for index in 0..<5 {
            let x = gap + (index % 3) * (cell + gap) + cell / 2, y = gap + (index / 3) * (cell + label + gap) + cell / 2
            let pixel = image.pixel(x: x, y: y)
            #expect(pixel.r == UInt8((index + 1) * 10) && pixel.g == 50, "cell \(index) shows step \(index + 1)")
            // The label row under the cell has ink.
            var ink = 0
            for ly in 0..<label {
                for lx in 0..<cell where image.pixel(x: x - cell / 2 + lx, y: y + cell / 2 + ly).r == sheet.ink.r { ink += 1 }
            }
            #expect(ink > 10, "cell \(index) has a step label")
        }
        let noisy = try #require(sheet.render(timeline, latent: .noisy))
        #expect(noisy.pixel(x: gap + cell / 2, y: gap + cell / 2).g == 200)
        // Encodes to a PNG that decodes to the same pixels.
        #expect(try PNG.decode(PNG.encode(image)).image == image)
        #expect(sheet.render(Timeline(request: GenerationRequest(prompt: "x"), seed: 0), latent: .denoised) == nil)
    }

    /// Writes PNGs as the studio saves them (ImageSaver's parameters), one A1111-style file, a
    /// file without parameters, and a non-PNG.
    static func galleryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-gallery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let pixels = PixelImage(width: 8, height: 8, rgb: [UInt8](repeating: 90, count: 8 * 8 * 3))
        let texts = [
            ("00000-11.png", "a red circle\nNegative prompt: blurry\nSteps: 12, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6, Seed: 11, Size: 8x8, RNG: CPU"),
            ("00001-22.png", "a blue square\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 22, Size: 8x8"),
            ("00002-33.png", "a red circle\nSteps: 5, Sampler: DDIM, CFG scale: 7, Seed: 33, Size: 8x8, RNG: CPU"),
        ]
        for (offset, (name, text)) in texts.enumerated() {
            let url = folder.appendingPathComponent(name)
            try Data(ImageSaver.png(pixels, parameters: text)).write(to: url)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_700_000_000 + Double(offset) * 60)],
                                                  ofItemAtPath: url.path)
        }
        try Data(PNG.encode(RGBImage(width: 4, height: 4))).write(to: folder.appendingPathComponent("plain.png"))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_600_000_000)],
                                              ofItemAtPath: folder.appendingPathComponent("plain.png").path)
        try Data("not a png".utf8).write(to: folder.appendingPathComponent("broken.png"))
        try Data("x".utf8).write(to: folder.appendingPathComponent(".stipple-1-2.tmp"))
        return folder
    }

    @Test func galleryListsEarlierImagesNewestFirstWithTheirParameters() throws {
        let folder = try Self.galleryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let gallery = Gallery.load(folder: folder)
        #expect(gallery.entries.map(\.name) == ["00002-33.png", "00001-22.png", "00000-11.png", "plain.png"])
        let line = Gallery.line(for: gallery.entries[1], now: Date(timeIntervalSince1970: 1_700_000_060))
        #expect(line.hasSuffix("#22  DPM++ 2M Karras  a blue square"), "\(line)")
        // Today: the time; another day: month and day.
        #expect(line.range(of: #"^\d\d:\d\d  #22"#, options: .regularExpression) != nil, "\(line)")
        let older = Gallery.line(for: gallery.entries[1], now: Date(timeIntervalSince1970: 1_700_000_060 + 3 * 86_400))
        #expect(older.range(of: #"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}  #22"#, options: .regularExpression) != nil,
                "\(older)")
        #expect(Gallery.line(for: gallery.entries[3]).hasSuffix("plain.png"))
        // The prompt history of earlier sessions, oldest first, each prompt once (newest place).
        #expect(gallery.promptHistory == ["a blue square", "a red circle"])
        #expect(gallery.negativeHistory == ["blurry"])
        let state = StudioState(modelName: "m", width: 64, height: 64, gallery: gallery)
        #expect(state.prompt.history == ["a blue square", "a red circle"])
    }

    @Test func galleryKeysOpenAndLoadParameters() throws {
        let folder = try Self.galleryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var state = StudioState(modelName: "m", width: 64, height: 64, gallery: Gallery.load(folder: folder))
        #expect(Self.key(.function(2), &state) == [.showGalleryEntry])
        #expect(state.focus == .gallery)
        // Letters in the gallery are commands, not prompt text.
        #expect(Self.key(.down, &state) == [.showGalleryEntry])
        #expect(Self.key(.down, &state) == [.showGalleryEntry])
        #expect(state.gallery.selectedEntry?.name == "00000-11.png")
        _ = Self.key(.character("l"), &state)
        #expect(state.focus == .prompt && state.statusKind == .success, "\(state.status)")
        #expect(state.prompt.text == "a red circle" && state.negative.text == "blurry")
        #expect(state.panel.steps == 12 && state.panel.cfgScale == 6 && state.panel.seed == 11 && state.panel.seedLocked)
        #expect(state.panel.sampler == .eulerA && state.panel.width == 8)
        // A file without parameters: a clear message, the controls unchanged.
        _ = Self.key(.function(2), &state)
        _ = Self.key(.end, &state)
        _ = Self.key(.character("l"), &state)
        #expect(state.statusKind == .error && state.status.contains("plain.png has no generation parameters"))
        #expect(state.prompt.text == "a red circle")
        // An opened file is what the pane shows while the gallery has focus; Esc goes back.
        state.opened = (state.gallery.selectedEntry!.url, PixelImage(width: 4, height: 4, rgb: [UInt8](repeating: 0, count: 48)))
        if case .file(let url)? = state.shownImage?.source { #expect(url.lastPathComponent == "plain.png") } else {
            Issue.record("the pane does not show the gallery's image")
        }
        _ = Self.key(.escape, &state)
        #expect(state.focus == .prompt)
    }

    @Test func newImagesJoinTheGalleryAtTheTop() throws {
        let folder = try Self.galleryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var gallery = Gallery.load(folder: folder)
        let saved = try OutputFolder(url: folder).save(
            ImageSaver.png(PixelImage(width: 8, height: 8, rgb: [UInt8](repeating: 1, count: 192)),
                           parameters: "a new one\nSteps: 3, Seed: 99, Size: 8x8"), seed: 99)
        gallery.add(saved)
        #expect(gallery.entries.first?.name == "00003-99.png" && gallery.entries.first?.prompt == "a new one")
        #expect(Gallery.load(folder: folder).entries.first?.name == "00003-99.png")
    }

    @Test func galleryViewDrawsTheListInTheLeftColumn() throws {
        let folder = try Self.galleryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var state = StudioState(modelName: "m", width: 64, height: 64, gallery: Gallery.load(folder: folder))
        _ = Self.key(.function(2), &state)
        let screen = HeadlessScreen(rows: 30, columns: 100)
        StudioView().draw(state, on: screen)
        #expect(screen.contains("Gallery (4)"))
        #expect(screen.contains("#33  DDIM  a red circle"))
        #expect(!screen.contains("Negative prompt"))
    }

    @Test func typingAPathIntoTheModelFieldLoadsIt() {
        var state = StudioState(modelName: "sd1", width: 64, height: 64)
        state.focus = .parameters
        _ = Self.key(.up, &state)
        #expect(state.panel.selected == .model && state.panel.value(.model) == "sd1")
        for character in "/models/other" { _ = Self.key(.character(character), &state) }
        #expect(Self.key(.enter, &state) == [.loadModel("/models/other")])
        #expect(state.panel.typing == nil && state.modelName == "sd1")
    }
}
