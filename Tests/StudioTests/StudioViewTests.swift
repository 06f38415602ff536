import Diffusion
import Terminal
import Testing
@testable import Studio

/// The studio drawn on a headless screen: panels, the cursor, the progress line, the help
/// overlay, and the "too small" message.
@Suite struct StudioViewTests {
    @Test func drawsThePanelsAndPutsTheCursorInThePrompt() throws {
        let screen = HeadlessScreen(rows: 30, columns: 100)
        var state = StudioState(modelName: "shapes", width: 64, height: 64)
        for character in "a yellow triangle" { _ = StudioKeyMap.handle(.character(character), state: &state, editorWidth: 40) }
        let image = try #require(StudioView().draw(state, on: screen))
        #expect(screen.line(0).contains("stipple") && screen.line(0).contains("shapes"))
        #expect(screen.contains("Prompt") && screen.contains("Negative prompt") && screen.contains("Parameters"))
        #expect(screen.contains("│a yellow triangle"))
        #expect(screen.contains("Sampler    default") && screen.contains("Steps      20") && screen.contains("Width      64"))
        let layout = StudioLayout(rows: 30, columns: 100)
        #expect(screen.cursor! == (layout.prompt.inner.row, layout.prompt.inner.column + 17))
        #expect(image == layout.image.inner)
        // The image pane is blank inside; the last row is the status line.
        for row in image.row..<image.row + image.rows {
            #expect(screen.cells[row][image.column..<image.column + image.columns].allSatisfy { $0.character == " " })
        }
        #expect(image.row + image.rows < 29)
        #expect(screen.line(29).contains("^Q quit"))
    }

    @Test func progressHelpAndTooSmall() throws {
        let screen = HeadlessScreen(rows: 24, columns: 80)
        var state = StudioState(modelName: "m", width: 512, height: 512)
        // As GenerationController reports a paused run with two more queued.
        state.jobs = JobStatus(running: true, paused: true, queued: 2,
                               progress: StepProgress(imageIndex: 0, imageCount: 1, step: 5, total: 20, timestep: 500,
                                                      elapsed: 2.5, stepsPerSecond: 2, preview: nil))
        StudioView().draw(state, on: screen)
        let progress = screen.line(22)
        #expect(progress.contains("5/20") && progress.contains("2.00 it/s") && progress.contains("ETA 7.5s"))
        #expect(progress.contains("PAUSED") && progress.contains("+2 queued") && progress.contains("█"))
        state.showHelp = true
        StudioView().draw(state, on: screen)
        #expect(screen.contains("Keys") && screen.contains("Ctrl-Q") && screen.contains("cancel the running generation"))
        screen.resize(rows: 10, columns: 50)
        #expect(StudioView().draw(state, on: screen) == nil)
        #expect(screen.contains("terminal too small: 50x10"))
    }

    @Test func layoutsFitEverySizeAboveTheMinimum() {
        for rows in [20, 24, 40, 60] {
            for columns in [60, 80, 120, 200] {
                let layout = StudioLayout(rows: rows, columns: columns)
                #expect(!layout.isTooSmall)
                for rect in [layout.prompt, layout.negative, layout.parameters, layout.image] {
                    #expect(rect.row >= 1 && rect.row + rect.rows <= rows - 2, "\(rows)x\(columns)")
                    #expect(rect.column + rect.columns <= columns && rect.rows >= 3 && rect.columns >= 20)
                }
                #expect(layout.parameters.row + layout.parameters.rows <= rows - 2)
            }
        }
    }
}
