import Diffusion
import Foundation
import Imaging
import Terminal
import Testing
@testable import Studio

/// The image pane's views of issue 19, headless: the forward view (F9) scrubs q(x_t | x_0) of an
/// image under the model's schedule beside the schedules' curves, the trajectory view (F10) plots
/// how far each step moved, and the X/Y grid (F11) runs its cells and saves one labelled PNG.
@Suite(.serialized) struct PaneViewsTests {
    typealias Studio = GenerationControllerTests.Studio

    static func screen(_ state: StudioState) -> HeadlessScreen {
        let screen = HeadlessScreen(rows: 30, columns: 110)
        StudioView().draw(state, on: screen)
        return screen
    }

    /// With STIPPLE_DUMP_DIR set, the pictures are written there as PNGs (to look at them).
    static func dump(_ image: PixelImage, _ name: String) {
        guard let folder = ProcessInfo.processInfo.environment["STIPPLE_DUMP_DIR"],
              let bytes = try? PNG.encode(RGBImage(image), texts: []) else { return }
        try? Data(bytes).write(to: URL(fileURLWithPath: folder).appendingPathComponent(name + ".png"))
    }

    static func psnr(_ a: PixelImage, _ b: PixelImage) -> Double {
        var sum = 0.0
        for (x, y) in zip(a.rgb, b.rgb) {
            let d = Double(Int(x) - Int(y))
            sum += d * d
        }
        return 10 * log10(65025 / max(sum / Double(max(a.rgb.count, 1)), 1e-9))
    }

    /// Generates one image of `steps` steps with the keys, as a person does.
    static func generate(_ studio: inout Studio, steps: Int = 6) {
        studio.type("a red square in the center on a blue background")
        studio.setSteps(steps)
        studio.press([.enter])
        _ = studio.drain(seconds: 60) { !$0.jobs.running && $0.current?.final != nil }
    }

    @Test func forwardViewScrubsTheImagesNoise() throws {
        var studio = try Studio()
        defer { studio.close() }
        #expect(studio.press([.function(9)]).isEmpty && studio.state.status.hasPrefix("Nothing to noise yet"))
        Self.generate(&studio)
        let image = try #require(studio.state.current?.final)
        let effects = studio.press([.function(9)])
        #expect(effects == [.openForward(image, "the generated image")])
        #expect(studio.drain(seconds: 30) { $0.forward?.frame != nil })
        #expect(studio.state.pane == .forward && studio.state.focus == .image)
        var shown = try #require(studio.state.shownImage)
        guard case .picture(let title) = shown.source else { Issue.record("not a picture: \(shown.source)"); return }
        #expect(title.hasPrefix("Forward q(x_t|x_0) \u{00B7} the generated image \u{00B7} t 500/999 \u{00B7} abar 0.492"), "\(title)")
        #expect(title.hasSuffix("(cosine)"))
        #expect(Self.screen(studio.state).contains("t 500/999"))
        #expect(shown.image.width == 768 && shown.image.height == 384)
        Self.dump(shown.image, "forward-500")

        // Right: a hundredth on; [: one back; Home: the image itself; End: noise.
        #expect(studio.press([.right]) == [.forwardAt(510)])
        #expect(studio.drain(seconds: 30) { $0.forward?.frame?.t == 510 })
        #expect(studio.press([.character("[")]) == [.forwardAt(509)])
        studio.press([.home])
        #expect(studio.drain(seconds: 30) { $0.forward?.frame?.t == 0 })
        let clean = try #require(studio.state.forward?.frame?.image)
        #expect(Self.psnr(clean, image) > 22, "t = 0 shows the image (its VAE round trip)")
        studio.press([.end])
        #expect(studio.drain(seconds: 30) { $0.forward?.frame?.t == 999 })
        let noise = try #require(studio.state.forward?.frame?.image)
        #expect(Self.psnr(noise, image) < 15, "t = T shows noise")
        shown = try #require(studio.state.shownImage)
        #expect(shown.image != clean)
        // F9 again: back to the timeline; a new generation shows its steps, not the forward view.
        studio.press([.function(9)])
        #expect(studio.state.pane == .timeline)
    }

    @Test func trajectoryViewPlotsEachStep() throws {
        var studio = try Studio()
        defer { studio.close() }
        studio.press([.function(10)])
        #expect(studio.state.pane == .timeline && studio.state.status.hasPrefix("No trajectory yet"))
        Self.generate(&studio, steps: 8)
        let timeline = try #require(studio.state.current)
        #expect(timeline.frames.count == 8 && timeline.frames.allSatisfy { $0.trajectory != nil })
        let straightness = try #require(timeline.straightness)
        #expect(straightness > 0 && straightness <= 1)
        studio.press([.function(10)])
        #expect(studio.state.pane == .trajectory)
        let shown = try #require(studio.state.shownImage)
        guard case .picture(let title) = shown.source else { Issue.record("not a picture"); return }
        #expect(title == String(format: "Trajectory \u{00B7} 8 steps \u{00B7} straightness %.2f", straightness))
        Self.dump(shown.image, "trajectory")
        // Scrubbing moves the plot's cursor: another picture.
        studio.press([.left, .left])
        #expect(try #require(studio.state.shownImage).image != shown.image)
        studio.press([.escape])
        #expect(studio.state.pane == .timeline)
    }

    @Test func gridRunsEveryCellAndSavesOneLabelledPNG() throws {
        var studio = try Studio()
        defer { studio.close() }
        studio.type("a green circle in the top left on a white background")
        studio.press([.function(11)])
        #expect(studio.state.focus == .grid && Self.screen(studio.state).contains("X/Y grid \u{00B7} Enter run"))
        // Replace the example with our axes.
        studio.press([.end] + Array(repeating: Key.backspace, count: 60))
        studio.type("steps=2,4 | sampler=euler_a,flow_euler")
        let effects = studio.press([.enter])
        guard case .runGrid(let plan, let base)? = effects.first else { Issue.record("\(effects)"); return }
        #expect(plan.columns == 2 && plan.rows == 2 && base.prompt.hasPrefix("a green circle"))
        #expect(studio.drain(seconds: 90) { $0.grid?.finished == true })
        let grid = try #require(studio.state.grid)
        // flow_euler cannot drive this (diffusion) model: those cells fail, the others run.
        #expect(grid.cells[0] != nil && grid.cells[1] != nil && grid.cells[2] == nil && grid.cells[3] == nil)
        #expect(grid.failures[2]?.contains("flow-matching") == true)
        let saved = try #require(grid.saved)
        let png = try PNG.read(path: saved.path)
        #expect(saved.lastPathComponent.hasSuffix("-grid.png"))
        #expect(png.text("parameters")?.hasPrefix("a green circle") == true && png.text("parameters")?.contains("Steps: 2,") == true)
        let record = try #require(png.text("stipple_grid"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(record.utf8)) as? [String: Any])
        #expect((json["x"] as? [String: Any])?["axis"] as? String == "steps")
        let cells = try #require(json["cells"] as? [Any])
        #expect(cells.count == 4 && (cells[1] as? String)?.contains("Steps: 4,") == true && cells[2] is NSNull)
        // The picture holds the cells, scaled up two times (64 -> 128).
        #expect(png.image.width > 2 * 128 && png.image.height > 2 * 128)
        let title = StudioView.imageTitle(studio.state)
        #expect(title.hasPrefix("X/Y grid \u{00B7} X: steps 2, 4; Y: sampler euler_a, flow_euler \u{00B7} saved"), "\(title)")
    }

    @Test func gridLinesAreCheckedBeforeAnythingRuns() throws {
        #expect(try GridPlan(parsing: "steps=5,10 | cfg = 1, 3,7").summary == "X: steps 5, 10; Y: cfg 1, 3, 7")
        #expect(try GridPlan(parsing: "cfg scale=2").x.kind == .cfg)
        let cases: [(String, String)] = [
            ("", "type the X axis"),
            ("steps", "an axis is NAME=V1,V2,..."),
            ("colour=1,2", "\"colour\" is not a grid axis"),
            ("steps=5,,10", "steps: give the values separated by commas"),
            ("steps=0,5", "steps \"0\": steps must be a whole number from 1 to 1000"),
            ("cfg=1,x", "cfg \"x\": not a number"),
            ("seed=-1", "seed \"-1\": a grid's seeds must be fixed numbers"),
            ("sampler=nope", "sampler \"nope\": "),
            ("steps=1,2 | steps=3", "both axes are steps"),
            ("steps=1 | cfg=1 | seed=1", "at most two axes"),
            ("steps=" + (1...13).map(String.init).joined(separator: ","), "an axis takes at most 12"),
        ]
        for (line, message) in cases {
            do {
                _ = try GridPlan(parsing: line)
                Issue.record("\(line) was accepted")
            } catch {
                #expect(error.description.contains(message) && !error.description.contains("\n"), "\(line): \(error.description)")
            }
        }
        // Prompt S/R: the first value is the piece replaced, and it must be in the prompt.
        let plan = try GridPlan(parsing: "prompt=red,green,blue")
        var base = GenerationRequest(prompt: "a red circle")
        base.seed = 9
        let cells = try GridRunner.cells(of: plan, base: base)
        #expect(cells.map(\.request.prompt) == ["a red circle", "a green circle", "a blue circle"])
        #expect(cells.allSatisfy { $0.request.seed == 9 })
        #expect(throws: GridAxis.ParseError.self) { try GridRunner.cells(of: plan, base: GenerationRequest(prompt: "a square")) }
        // Text with NUL characters (fuzz-settings found Foundation's search and replace trapping on it).
        let nul = try GridPlan(parsing: "prompt='\u{0}\u{0},b")
        let odd = try GridRunner.cells(of: nul, base: GenerationRequest(prompt: "prompt='\u{0}\u{0},bdp"))
        #expect(odd.map(\.request.prompt) == ["prompt='\u{0}\u{0},bdp", "prompt=b,bdp"])
        // In the studio: a bad line is one status line, nothing runs.
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.prompt.text = "a red circle"
        state.toggleGridEditor()
        state.gridLine.text = "steps=5 | steps=6"
        #expect(state.runGridLine().isEmpty && state.statusKind == .error && state.status.hasPrefix("Both axes are steps"))
    }

    /// `generate --trajectory`: every step's line and the straightness (at most 1) at the end.
    @Test func generatePrintsTheTrajectory() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try CommandLineTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try CommandLineTests.run(["generate", "--model", StudioEndToEndTests.model, "-W", "32", "-H", "32", "-p", "a fox",
                                            "--steps", "3", "--sampler", "euler", "--trajectory", "-o", "t.png"], in: folder)
        #expect(run.status == 0, "\(run.standardError)")
        let lines = run.standardError.split(separator: "\n").filter { $0.hasPrefix("stipple: image 1 step ") }
        #expect(lines.count == 3 && lines[0].contains("step 1/3: moved ") && lines[2].contains("; straightness "), "\(run.standardError)")
        let straightness = lines.last.flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect(straightness.map { $0 > 0 && $0 <= 1.0001 } == true)
    }

    /// `stipple grid` from the command line: the PNG, the first cell's parameters, one line for a
    /// bad axis and nothing written.
    @Test func gridCommandWritesTheLabelledPNG() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try CommandLineTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let base = ["grid", "--model", StudioEndToEndTests.model, "-W", "32", "-H", "32", "-p", "a fox", "--seed", "3"]
        let run = try CommandLineTests.run(base + ["--x", "steps=1,2", "--y", "cfg=1,5", "-o", "g.png"], in: folder)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("cell 4/4 (steps 2, cfg 5)"))
        let png = try PNG.read(path: folder.appendingPathComponent("g.png").path)
        #expect(png.text("parameters")?.contains("Steps: 1,") == true && png.text("parameters")?.contains("Seed: 3,") == true)
        let bad = try CommandLineTests.run(base + ["--x", "steps=1,zero", "-o", "h.png"], in: folder)
        #expect(bad.status != 0 && bad.standardError == "Error: steps \"zero\": not a whole number\n", "\(bad.standardError)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("h.png").path))
    }
}
