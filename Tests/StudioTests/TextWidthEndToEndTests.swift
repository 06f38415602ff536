import Foundation
import Testing

/// CJK and emoji in the real studio, in tmux (which measures text with its own tables): the prompt
/// keeps inside its frame, wraps at its right column and the terminal's cursor is on the cell after
/// the text.
@Suite(.serialized) struct TextWidthEndToEndTests {
    @Test func aCJKAndEmojiPromptWrapsAndPlacesTheCursor() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let session = try StudioEndToEndTests.Session()
        defer { session.close() }
        let tmux = session.tmux
        try session.start(columns: 110, rows: 32)  // the prompt's inside: rows from 2, columns 1...42
        #expect(try tmux.wait(seconds: 60) { try tmux.screen().contains("Parameters") }, "the studio did not start")
        func cursor() throws -> String { try tmux.run(["display", "-p", "-t", "studio", "#{cursor_x} #{cursor_y}"]) }
        func row(_ index: Int) throws -> String {
            let lines = try tmux.screen().split(separator: "\n", omittingEmptySubsequences: false)
            return index < lines.count ? String(lines[index]) : ""
        }

        let text = "日本語のテキストと🦊の絵 a fox"  // 9 + 1 + 2 wide characters and 6 narrow: 30 columns
        try tmux.run(["send-keys", "-t", "studio", "-l", text])
        #expect(tmux.wait(seconds: 10) { (try? cursor()) == "31 2\n" }, "cursor at \((try? cursor()) ?? "?")")
        let first = try row(2)
        #expect(first.hasPrefix("│" + text + String(repeating: " ", count: 12) + "││"), "\(first)")

        try tmux.run(["send-keys", "-t", "studio", "-l", " 漢字漢字漢字漢字"])  // 47 columns: wraps after "fox "
        #expect(tmux.wait(seconds: 10) { (try? cursor()) == "17 3\n" }, "cursor at \((try? cursor()) ?? "?")")
        let second = try row(3)
        #expect(second.hasPrefix("│漢字漢字漢字漢字" + String(repeating: " ", count: 26) + "││"), "\(second)")
        try tmux.run(["send-keys", "-t", "studio", "Up"])  // column 16 of the line above: before と
        #expect(tmux.wait(seconds: 10) { (try? cursor()) == "17 2\n" }, "cursor at \((try? cursor()) ?? "?")")
        try tmux.run(["send-keys", "-t", "studio", "C-q"])
        #expect(session.ended().status == "0")
    }
}
