import Testing
@testable import Terminal

/// The in-memory screen views are tested on: clipping, fills, styles, resize.
@Suite struct HeadlessScreenTests {
    @Test func drawsClipsAndReadsBack() {
        let screen = HeadlessScreen(rows: 3, columns: 10)
        screen.put("prompt: a fox", row: 0, column: 0)
        screen.put("steps", row: 1, column: 7, style: CellStyle(.accent, bold: true))
        screen.put("hidden", row: 5, column: 0)
        screen.put("xyz", row: 2, column: -1)
        screen.put("abcdef", row: 2, column: 4, style: .normal, width: 3)
        #expect(screen.line(0) == "prompt: a")
        #expect(screen.line(1) == "       ste")
        #expect(screen.line(2) == "yz  abc")
        #expect(screen.cells[1][7].style == CellStyle(.accent, bold: true))
        #expect(screen.contains("ste") && !screen.contains("hidden"))
        screen.fill(row: 0, column: 2, rows: 2, columns: 3, style: CellStyle(.selection))
        #expect(screen.line(0) == "pr   t: a" && screen.cells[1][3].style.role == .selection)
        screen.clear()
        #expect(screen.text == "\n\n")
        screen.refresh()
        #expect(screen.refreshCount == 1)
    }

    @Test func resizeKeepsWhatFits() {
        let screen = HeadlessScreen(rows: 2, columns: 6)
        screen.put("abcdef", row: 0, column: 0)
        screen.resize(rows: 3, columns: 4)
        #expect(screen.size == (3, 4))
        #expect(screen.text == "abcd\n\n")
    }
}
