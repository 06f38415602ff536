import Foundation
import Testing
@testable import Terminal

/// Text from files and models never reaches the terminal raw (issue 12, finding 8).
@Suite struct TerminalTextTests {
    @Test func controlCharactersBecomeVisibleEscapes() {
        // An OSC 52 clipboard write, an OSC 0 title, a clear screen, a bell, CSI as one C1 byte.
        let hostile = "a\u{1B}]52;c;ZXZpbA==\u{07}b\u{1B}]0;owned\u{1B}\\c\u{1B}[2Jd\u{9B}31me\u{85}f\u{7F}g\u{0}h\rz"
        let shown = TerminalText.visible(hostile)
        #expect(shown == #"a\e]52;c;ZXZpbA==\x07b\e]0;owned\e\c\e[2Jd\u{9b}31me\u{85}f\x7fg\x00h\rz"#)
        #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(TerminalText.visible(shown) == shown, "escaping twice changes nothing more")
    }

    @Test func lineBreaksStayOnlyWhenAskedFor() {
        #expect(TerminalText.visible("one\ntwo\tthree") == #"one\ntwo\tthree"#)
        #expect(TerminalText.visible("one\ntwo\tthree", keepingLineBreaks: true) == "one\ntwo\tthree")
        #expect(TerminalText.visible("one\r\ntwo", keepingLineBreaks: true) == "one\\r\ntwo")
    }

    @Test func bidiOverridesAreShownNotApplied() {
        #expect(TerminalText.visible("abc\u{202E}fed\u{202C}\u{2066}x\u{2069}") == #"abc\u{202e}fed\u{202c}\u{2066}x\u{2069}"#)
    }

    @Test func ordinaryTextIsUntouched() {
        let text = #"a (red:1.2) \(house\) 猫 é 👩‍👩‍👧 \ backslash"#
        #expect(TerminalText.visible(text) == text)
    }

    @Test func screensDrawControlsAsEscapes() {
        let screen = HeadlessScreen(rows: 2, columns: 40)
        screen.put("x\u{1B}[2Jy\u{9B}z\nw", row: 0, column: 0)
        #expect(screen.line(0) == #"x\e[2Jy\u{9b}z w"#)
    }
}
