import Testing
@testable import Terminal

/// Terminal column widths (wcwidth semantics, our own table) and the screens that use them.
@Suite struct ColumnWidthTests {
    @Test func charactersTakeTheirTerminalColumns() {
        let cases: [(Character, Int)] = [
            ("a", 1), (" ", 1), ("é", 1), ("e\u{301}", 1),  // precomposed and combining accent
            ("漢", 2), ("の", 2), ("한", 2), ("Ａ", 2), ("ｱ", 1),  // CJK, kana, Hangul, fullwidth, halfwidth kana
            ("🦊", 2), ("❤\u{FE0F}", 2), ("❤", 1), ("🇯🇵", 2), ("👨\u{200D}👩\u{200D}👧", 2), ("👍🏽", 2),
            ("\u{200B}", 0), ("\u{301}", 0), ("©", 1), ("\u{AD}", 1), ("\u{1F}", 0),
        ]
        for (character, columns) in cases {
            #expect(ColumnWidth.of(character) == columns, "\(character.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        #expect(ColumnWidth.of("日本語 abc 🦊") == 13)
        #expect(ColumnWidth.of(Array("漢字")) == 4)
    }

    @Test func prefixNeverSplitsAWideCharacter() {
        #expect(ColumnWidth.prefix("日本語", columns: 5) == "日本")
        #expect(ColumnWidth.prefix("日本語", columns: 6) == "日本語")
        #expect(ColumnWidth.prefix("a🦊b", columns: 2) == "a")
        #expect(ColumnWidth.prefix("abc", columns: 0) == "")
    }

    @Test func theWideTableIsSortedAndDisjoint() {
        let table = ColumnWidth.wide
        #expect(zip(table, table.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound })
    }

    @Test func headlessScreenDrawsWideCharactersInTwoCells() {
        let screen = HeadlessScreen(rows: 2, columns: 8)
        screen.put("日本語です", row: 0, column: 1, style: .normal, width: 5)
        #expect(screen.line(0) == " 日本")
        #expect(screen.cells[0][1].character == "日" && screen.cells[0][2].isContinuation)
        #expect(screen.cells[0][5].character == " ", "the third character would straddle the width: left out")
        screen.put("🦊 fox", row: 1, column: 0)
        #expect(screen.line(1) == "🦊 fox" && screen.cells[1][3].character == "f")
        // Writing over half of a wide character blanks its other half, as a terminal does.
        screen.put("ab", row: 0, column: 2)
        screen.put("x", row: 1, column: 1)
        #expect(screen.line(0) == "  ab" && screen.line(1) == " x fox")
    }
}
