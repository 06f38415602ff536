import Diffusion
import Foundation
import Imaging
import Terminal
import Testing
@testable import Studio

/// The studio's generations without a terminal: keys through `StudioKeyMap` into the state, their
/// effects into the real `GenerationController`, the engine on the bundled model, the controller's
/// inbox drained as the main loop drains it, until a PNG with its parameters is in the output folder
/// and the state (timeline, gallery, status) shows it. And Esc: cancelled, nothing saved.
@Suite struct GenerationControllerTests {
    /// A controller on the bundled model, writing into a fresh folder, and the state it serves.
    struct Studio {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-controller-" + UUID().uuidString)
        let controller: GenerationController
        var state: StudioState

        init() throws {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let model = try StableDiffusionModel(folder: DefaultModelTests.modelFolder.path)
            controller = GenerationController(model: model, outputFolder: folder)
            state = StudioState(modelName: model.name, width: model.nativeSize, height: model.nativeSize,
                                gallery: Gallery.load(folder: folder))
        }

        func close() {
            controller.cancelAll()
            try? FileManager.default.removeItem(at: folder)
        }

        /// Presses `keys`; their effects go to the controller, as the studio's loop sends them.
        /// Returns the effects.
        @discardableResult
        mutating func press(_ keys: [Key]) -> [StudioState.Effect] {
            var all: [StudioState.Effect] = []
            for key in keys {
                for effect in StudioKeyMap.handle(key, state: &state, editorWidth: 40) {
                    all.append(effect)
                    #expect(controller.perform(effect, state: &state), "\(effect) did not reach the controller")
                }
            }
            return all
        }

        mutating func type(_ text: String) {
            press(text.map { Key.character($0) })
        }

        /// Drains the controller's inbox into the state until `done` holds (at most `seconds`).
        mutating func drain(seconds: Double, until done: (StudioState) -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while !done(state) && Date() < deadline {
                _ = controller.inbox.wait(seconds: 0.2)
                controller.drainEvents(into: &state)
            }
            return done(state)
        }

        /// The steps field (from the prompt: Tab Tab to the parameters, Down to schedule, spacing, steps) set to `steps`.
        mutating func setSteps(_ steps: Int) {
            press([.tab, .tab, .down, .down, .down])
            type("\(steps)")
            press([.enter])
        }

        var pngs: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".png") }.sorted()
        }
    }

    @Test func enterGeneratesASavedImageWithItsParameters() throws {
        var studio = try Studio()
        defer { studio.close() }
        let prompt = "a red circle in the top left on a blue background"
        studio.type(prompt)
        studio.setSteps(8)
        studio.press([.down, .down])  // the seed field
        studio.type("42")
        studio.press([.enter])
        #expect(studio.state.panel.steps == 8 && studio.state.panel.seed == 42 && studio.state.panel.seedLocked)

        let effects = studio.press([.enter])
        guard case .generate(let request)? = effects.first else {
            Issue.record("Enter did not generate: \(effects)")
            return
        }
        #expect(request.prompt == prompt && request.steps == 8 && request.seed == 42)
        #expect(studio.state.jobs.running && studio.state.status == "Generating, seed 42...")
        #expect(studio.drain(seconds: 120) { !$0.jobs.running }, "the generation did not end")

        // The PNG, with the parameters that made it.
        #expect(studio.pngs.count == 1)
        let name = try #require(studio.pngs.first)
        #expect(name.hasSuffix("-42.png"))
        let url = studio.folder.appendingPathComponent(name)
        let file = try PNG.read(path: url.path)
        #expect(file.image.width == 64 && file.image.height == 64)
        let parameters = try #require(file.text("parameters"))
        #expect(parameters.hasPrefix(prompt + "\nSteps: 8, "), "\(parameters)")
        #expect(parameters.contains("Seed: 42,") && parameters.contains("Size: 64x64"), "\(parameters)")

        // The state: saved, in the gallery, the timeline complete with the final image shown.
        let state = studio.state
        #expect(state.status == "Saved \(url.path)" && state.statusKind == .success, "\(state.status)")
        #expect(state.gallery.entries.first?.url.standardizedFileURL == url.standardizedFileURL)
        let timeline = try #require(state.current)
        #expect(timeline.seed == 42 && timeline.request.prompt == prompt)
        let last = try #require(timeline.frames.last)
        #expect(timeline.frames.count == last.total && last.step == last.total && last.total >= 8)
        #expect(timeline.final?.width == 64)
        #expect(state.shownImage?.step == nil && state.shownImage?.seed == 42)
        #expect(state.jobs.progress == nil && state.jobs.queued == 0 && !state.jobs.paused)
    }

    /// Enter while one runs queues another; Ctrl-P holds the run before its first step, Ctrl-N
    /// grants one, Ctrl-P resumes; Esc cancels the running one, then the queued one; no file.
    @Test func queuePauseAndEscapeCancelLeavingNoFile() throws {
        var studio = try Studio()
        defer { studio.close() }
        studio.type("a green square in the center on a white background")
        studio.setSteps(900)
        studio.press([.tab, .tab])  // back to the prompt
        #expect(studio.press([.enter, .ctrl("p")]).dropFirst().first == .pause)
        #expect(studio.state.jobs.running && studio.state.jobs.paused && studio.state.status.hasPrefix("Paused."))
        studio.press([.enter])
        #expect(studio.state.jobs.queued == 1 && studio.state.status == "Queued (1 waiting).", "\(studio.state.status)")
        #expect(studio.press([.ctrl("n")]) == [.stepOnce])
        #expect(studio.press([.ctrl("p")]) == [.resume])
        #expect(!studio.state.jobs.paused && studio.state.status == "Resumed.")

        #expect(studio.press([.escape]) == [.cancel])
        #expect(studio.state.status == "Cancelling...")
        // The first ends cancelled and the queued one begins.
        #expect(studio.drain(seconds: 60) { $0.jobs.queued == 0 }, "the queued run did not begin")
        #expect(studio.state.jobs.running)
        #expect(studio.press([.escape]) == [.cancel])
        #expect(studio.drain(seconds: 60) { !$0.jobs.running }, "not cancelled")
        #expect(studio.state.status == "Cancelled." && studio.state.statusKind == .warning)
        #expect(!studio.state.jobs.paused && studio.state.jobs.progress == nil)
        #expect(studio.pngs.isEmpty)
        #expect(studio.state.gallery.entries.isEmpty)
    }

    /// A request the model cannot run is refused at submission with one line, and nothing is queued.
    @Test func anInvalidRequestIsRefusedBeforeItRuns() throws {
        var studio = try Studio()
        defer { studio.close() }
        studio.type("a circle")
        studio.state.panel.initImage = studio.folder.appendingPathComponent("missing.png").path
        studio.press([.enter])
        #expect(!studio.state.jobs.running && studio.state.statusKind == .error)
        #expect(studio.state.status.contains("missing.png"), "\(studio.state.status)")
    }
}
