import Testing
@testable import Studio
import Terminal

/// The prompt editor: typing and pasting, word-wise moves and deletes, wrapping, up/down through
/// wrapped lines and through history.
@Suite struct TextEditorTests {
    @Test func typingPastingAndDeleting() {
        var editor = TextEditor()
        editor.insert("a red fox")
        editor.moveWordLeft()
        editor.insert("quick ")
        #expect(editor.text == "a red quick fox" && editor.cursor == 12)
        editor.deleteWordBackward()
        #expect(editor.text == "a red fox")
        editor.moveToLineEnd()
        editor.insert(",\r\nsnow\tstorm\u{07}")
        #expect(editor.text == "a red fox,\nsnow storm")
        editor.deleteBackward()
        editor.moveToLineStart()
        #expect(editor.cursor == 11)
        editor.deleteToLineEnd()
        #expect(editor.text == "a red fox,\n")
        editor.deleteBackward()
        #expect(editor.text == "a red fox,")
        editor.deleteToLineStart()
        #expect(editor.text.isEmpty && editor.cursor == 0)
        editor.deleteBackward()
        editor.deleteForward()
        #expect(editor.text.isEmpty)
        // A long paste goes in whole, and emoji stay whole characters.
        let long = String(repeating: "masterpiece, 🦊 best quality, ", count: 40)
        editor.insert(long)
        #expect(editor.text == long && editor.cursor == long.count)
    }

    @Test func wrapsAtWordsAndCutsLongWords() {
        let editor = TextEditor(text: "a red fox jumps over\nthe dog abcdefghijklmnop")
        #expect(editor.layout(width: 10).texts == ["a red fox ", "jumps over", "the dog ", "abcdefghij", "klmnop"])
        #expect(TextEditor(text: "").layout(width: 5).texts == [""])
        #expect(TextEditor(text: "abc\n").layout(width: 5).texts == ["abc", ""])
    }

    @Test func cursorRowAndColumnFollowTheWrapping() {
        var editor = TextEditor(text: "a red fox jumps over")
        #expect(editor.layout(width: 10).cursor == (1, 10))
        editor.moveToLineStart()
        #expect(editor.layout(width: 10).cursor == (0, 0))
        for _ in 0..<10 { editor.moveRight() }
        // At a soft wrap the cursor shows at the start of the next line.
        #expect(editor.layout(width: 10).cursor == (1, 0))
        let moved1 = editor.moveUp(width: 10)
        #expect(moved1)
        #expect(editor.layout(width: 10).cursor == (0, 0))
        editor.moveToLineEnd()
        #expect(editor.cursor == 20)
        let moved2 = editor.moveUp(width: 10)
        #expect(moved2)
        #expect(editor.cursor == 9)  // column 10 of "a red fox " is clamped to its last column
        let moved3 = editor.moveDown(width: 10)
        #expect(moved3)
        #expect(editor.cursor == 20)
    }

    @Test func upAndDownBrowseHistoryFromTheEdges() {
        var editor = TextEditor()
        editor.text = "first prompt"
        editor.commitToHistory()
        editor.text = "second prompt"
        editor.commitToHistory()
        editor.text = "first prompt"
        editor.commitToHistory()  // a repeat moves to the end, kept once
        #expect(editor.history == ["second prompt", "first prompt"])
        editor.text = "draft"
        let moved4 = editor.moveUp(width: 40)
        #expect(moved4)
        #expect(editor.text == "first prompt")
        let moved5 = editor.moveUp(width: 40)
        #expect(moved5)
        #expect(editor.text == "second prompt")
        let moved6 = editor.moveUp(width: 40)
        #expect(!moved6)
        let moved7 = editor.moveDown(width: 40)
        #expect(moved7 && editor.text == "first prompt")
        let moved8 = editor.moveDown(width: 40)
        #expect(moved8 && editor.text == "draft")
        let moved9 = editor.moveDown(width: 40)
        #expect(!moved9)
        // Editing a recalled entry leaves history alone.
        editor.moveUp(width: 40)
        editor.insert("!")
        #expect(editor.text == "first prompt!" && editor.history == ["second prompt", "first prompt"])
        var empty = TextEditor()
        empty.commitToHistory()
        #expect(empty.history.isEmpty)
    }
}


/// Wrapping and the cursor in terminal columns: CJK characters and emoji take two cells.
@Suite struct TextEditorColumnTests {
    @Test func aCJKPromptWrapsAtTheRightColumn() {
        var editor = TextEditor(text: "日本語のテキスト")
        let layout = editor.layout(width: 5)
        #expect(layout.texts == ["日本", "語の", "テキ", "スト"], "two wide characters fill four of five columns")
        #expect(layout.cursor == (3, 4))
        #expect(TextEditor(text: "ab漢字 cd").layout(width: 5).texts == ["ab漢", "字 cd"])
        // Up and down keep the column in cells: after 語 (columns 0-1) is column 2, then after テ.
        editor.moveToLineStart()
        for _ in 0..<3 { editor.moveRight() }
        #expect(editor.layout(width: 5).cursor == (1, 2))
        editor.moveDown(width: 5)
        #expect(editor.cursor == 5 && editor.layout(width: 5).cursor == (2, 2))
        // A column inside a wide character lands on its start.
        var narrow = TextEditor(text: "abc\n漢字")
        narrow.moveToLineStart()
        narrow.moveUp(width: 10)
        narrow.moveToLineStart()
        narrow.moveRight()
        narrow.moveDown(width: 10)
        #expect(narrow.layout(width: 10).cursor == (1, 0))
    }

    @Test func anEmojiPromptWrapsAtTheRightColumn() {
        let editor = TextEditor(text: "🦊🦊🦊 fox")
        let layout = editor.layout(width: 5)
        #expect(layout.texts == ["🦊🦊", "🦊 ", "fox"])
        #expect(layout.cursor == (2, 3))
        #expect(TextEditor(text: "a 🦊 fox 🦊🦊").layout(width: 6).texts == ["a 🦊 ", "fox ", "🦊🦊"])
    }

    @Test func theDrawnCursorLandsOnTheRightCell() {
        let screen = HeadlessScreen(rows: 8, columns: 10)
        let rect = Rect(row: 0, column: 0, rows: 6, columns: 7)  // inside: 5 columns, 4 rows
        StudioView().drawEditor(TextEditor(text: "日本語のテキスト"), title: "P", in: rect, focused: true, on: screen)
        #expect(screen.line(2) == "│語の │", "the frame stays in its column after wide characters")
        #expect(screen.line(4) == "│スト │")
        #expect(screen.cursor.map { [$0.row, $0.column] } == [4, 5], "after ス and ト: column 4 of the inside")
        StudioView().drawEditor(TextEditor(text: "a🦊"), title: "P", in: rect, focused: true, on: screen)
        #expect(screen.line(1) == "│a🦊  │" && screen.cursor.map { [$0.row, $0.column] } == [1, 4])
    }
}
