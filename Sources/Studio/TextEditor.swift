import Foundation
import Terminal

/// The studio's prompt editors: multi-line text with a cursor, soft wrapping to the editor's
/// width, word-wise moves and deletes, and a history of past entries browsed with up/down from
/// the first/last line (as shells and A1111's prompt box do). Pure value type: the view draws
/// `layout(width:)`, the key map calls the editing methods.
public struct TextEditor: Sendable, Equatable {
    /// The text, as characters (grapheme clusters, so the cursor never splits one).
    public private(set) var characters: [Character] = []
    /// Insertion point: 0...characters.count.
    public private(set) var cursor = 0
    /// Past entries, oldest first.
    public private(set) var history: [String] = []
    /// Index into `history` while browsing it; nil when editing the current text.
    private var historyIndex: Int?
    /// The text being edited before browsing history began.
    private var draft: [Character] = []
    /// Column the cursor wants when moving up and down through lines of different lengths.
    private var preferredColumn: Int?

    public init(text: String = "") {
        characters = Array(text)
        cursor = characters.count
    }

    public var text: String {
        get { String(characters) }
        set {
            characters = Array(newValue)
            cursor = characters.count
            historyIndex = nil
            preferredColumn = nil
        }
    }

    // MARK: Editing

    /// Inserts `text` at the cursor (typing, or a paste of any length; `\r\n` and `\r` become `\n`,
    /// tabs a space, other control characters are dropped).
    public mutating func insert(_ text: String) {
        var clean: [Character] = []
        clean.reserveCapacity(text.count)
        var previousWasCR = false
        for character in text {
            defer { previousWasCR = character == "\r" }
            switch character {
            case "\r\n", "\r": clean.append("\n")
            case "\n": if !previousWasCR { clean.append("\n") }
            case "\t": clean.append(" ")
            default:
                if let scalar = character.unicodeScalars.first, character.unicodeScalars.count == 1,
                   scalar.value < 0x20 || scalar.value == 0x7F { continue }
                clean.append(character)
            }
        }
        characters.insert(contentsOf: clean, at: cursor)
        cursor += clean.count
        edited()
    }

    /// Deletes the character before the cursor.
    public mutating func deleteBackward() {
        guard cursor > 0 else { return }
        characters.remove(at: cursor - 1)
        cursor -= 1
        edited()
    }

    /// Deletes the character under the cursor.
    public mutating func deleteForward() {
        guard cursor < characters.count else { return }
        characters.remove(at: cursor)
        edited()
    }

    /// Deletes back to the start of the word before the cursor (Ctrl-W, Alt-Backspace).
    public mutating func deleteWordBackward() {
        deleteBackward(to: wordStart(before: cursor))
    }

    /// Deletes from the cursor to the end of its line (Ctrl-K).
    public mutating func deleteToLineEnd() {
        var end = cursor
        while end < characters.count && characters[end] != "\n" { end += 1 }
        if end == cursor && end < characters.count { end += 1 }  // at a line end: join the next line
        characters.removeSubrange(cursor..<end)
        edited()
    }

    /// Deletes everything before the cursor on its line (Ctrl-U).
    public mutating func deleteToLineStart() {
        deleteBackward(to: lineStart(of: cursor))
    }

    /// Replaces `range` of the characters with `text` (taken as it is) and puts the cursor at
    /// `cursor` in the result (clamped); an edit like typing (history browsing ends).
    public mutating func replace(_ range: Range<Int>, with text: String, cursor: Int) {
        characters.replaceSubrange(range.clamped(to: 0..<characters.count), with: Array(text))
        self.cursor = max(0, min(characters.count, cursor))
        edited()
    }

    /// Deletes from `start` up to the cursor, which moves there.
    private mutating func deleteBackward(to start: Int) {
        characters.removeSubrange(start..<cursor)
        cursor = start
        edited()
    }

    private mutating func edited() {
        historyIndex = nil
        preferredColumn = nil
    }

    // MARK: Moving

    public mutating func moveLeft() { cursor = max(0, cursor - 1); preferredColumn = nil }
    public mutating func moveRight() { cursor = min(characters.count, cursor + 1); preferredColumn = nil }
    public mutating func moveWordLeft() { cursor = wordStart(before: cursor); preferredColumn = nil }

    public mutating func moveWordRight() {
        var i = cursor
        while i < characters.count && !isWordCharacter(characters[i]) { i += 1 }
        while i < characters.count && isWordCharacter(characters[i]) { i += 1 }
        cursor = i
        preferredColumn = nil
    }

    public mutating func moveToLineStart() { cursor = lineStart(of: cursor); preferredColumn = nil }

    public mutating func moveToLineEnd() {
        while cursor < characters.count && characters[cursor] != "\n" { cursor += 1 }
        preferredColumn = nil
    }

    /// Moves one wrapped line up; from the first line, shows the previous history entry.
    /// Returns false when there is nothing above (no line, no history).
    @discardableResult
    public mutating func moveUp(width: Int) -> Bool {
        let layout = self.layout(width: width)
        let (row, column) = layout.cursor
        guard row > 0 else { return showHistory(step: -1) }
        let wanted = preferredColumn ?? column
        cursor = layout.index(row: row - 1, column: wanted)
        preferredColumn = wanted
        return true
    }

    /// Moves one wrapped line down; from the last line, shows the next history entry (or the draft).
    @discardableResult
    public mutating func moveDown(width: Int) -> Bool {
        let layout = self.layout(width: width)
        let (row, column) = layout.cursor
        guard row < layout.lines.count - 1 else { return showHistory(step: 1) }
        let wanted = preferredColumn ?? column
        cursor = layout.index(row: row + 1, column: wanted)
        preferredColumn = wanted
        return true
    }

    // MARK: History

    /// Records the current text as the newest history entry (on generate); repeats are kept once.
    public mutating func commitToHistory() {
        let entry = text
        guard !entry.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
        history.removeAll { $0 == entry }
        history.append(entry)
        if history.count > 500 { history.removeFirst(history.count - 500) }
        historyIndex = nil
    }

    /// Replaces the history (e.g. loaded from earlier sessions' images), oldest first.
    public mutating func setHistory(_ entries: [String]) {
        history = entries
        historyIndex = nil
    }

    private mutating func showHistory(step: Int) -> Bool {
        guard !history.isEmpty else { return false }
        let current = historyIndex ?? history.count
        let next = current + step
        guard next >= 0, next <= history.count, next != current else { return false }
        if historyIndex == nil { draft = characters }
        characters = next == history.count ? draft : Array(history[next])
        historyIndex = next == history.count ? nil : next
        cursor = characters.count
        preferredColumn = nil
        return true
    }

    // MARK: Layout

    /// The text wrapped to `width` terminal columns (CJK characters and emoji take two, combining
    /// marks none: `ColumnWidth`): words move whole to the next line when they fit there, longer
    /// ones are cut; a wide character that would straddle the edge starts the next line; `\n`
    /// starts a new line. Each line knows where it starts in `characters`.
    public func layout(width: Int) -> Layout {
        let width = max(1, width)
        var lines: [Layout.Line] = []
        var lineStart = 0
        var lineColumns = 0  // columns of characters[lineStart..<i]
        var i = 0
        var lastBreak: Int?  // index after the last space on the current line
        while i < characters.count {
            let character = characters[i]
            if character == "\n" {
                lines.append(Layout.Line(start: lineStart, end: i, hardBreak: true))
                i += 1
                lineStart = i
                lineColumns = 0
                lastBreak = nil
                continue
            }
            let columns = ColumnWidth.of(character)
            if lineColumns + columns > width && i > lineStart {
                // The line is full: break after its last space when there is one, else here.
                let end = (lastBreak.map { $0 > lineStart } ?? false) ? lastBreak! : i
                lines.append(Layout.Line(start: lineStart, end: end, hardBreak: false))
                lineStart = end
                lineColumns = ColumnWidth.of(characters[end..<i])
                lastBreak = nil
                continue
            }
            if character == " " { lastBreak = i + 1 }
            lineColumns += columns
            i += 1
        }
        lines.append(Layout.Line(start: lineStart, end: characters.count, hardBreak: false))
        return Layout(characters: characters, lines: lines, cursorIndex: cursor, width: width)
    }

    /// Wrapped lines of a text and the cursor's place among them, in terminal columns.
    public struct Layout: Sendable {
        public struct Line: Sendable, Equatable {
            /// Range in the editor's characters (the `\n` of a hard break is not included).
            public var start: Int
            public var end: Int
            public var hardBreak: Bool
        }

        let characters: [Character]
        public let lines: [Line]
        let cursorIndex: Int
        let width: Int

        /// The text of each wrapped line.
        public var texts: [String] { lines.map { String(characters[$0.start..<$0.end]) } }

        /// The cursor's (row, column), the column in terminal cells from the line's start. At a soft
        /// wrap the cursor belongs to the next line's start.
        public var cursor: (row: Int, column: Int) {
            for (row, line) in lines.enumerated() {
                let isLast = row == lines.count - 1
                let endsHere = line.hardBreak || isLast ? cursorIndex <= line.end : cursorIndex < line.end
                if cursorIndex >= line.start && endsHere {
                    return (row, ColumnWidth.of(characters[line.start..<cursorIndex]))
                }
            }
            let last = lines[lines.count - 1]
            return (lines.count - 1, ColumnWidth.of(characters[last.start..<max(last.start, cursorIndex)]))
        }

        /// The character index at (row, column), clamped to the line: the character whose cells
        /// hold `column` (its start, for a wide one), or the line's end.
        func index(row: Int, column: Int) -> Int {
            let line = lines[max(0, min(row, lines.count - 1))]
            let isLast = row >= lines.count - 1
            // On a soft-wrapped line the cursor cannot stand after the last character (that is the
            // next line's start).
            let last = line.hardBreak || isLast ? line.end : max(line.start, line.end - 1)
            var index = line.start, used = 0
            while index < last {
                let next = used + ColumnWidth.of(characters[index])
                if next > column { break }
                used = next
                index += 1
            }
            return index
        }
    }

    // MARK: Helpers

    private func lineStart(of index: Int) -> Int {
        var i = index
        while i > 0 && characters[i - 1] != "\n" { i -= 1 }
        return i
    }

    private func wordStart(before index: Int) -> Int {
        var i = index
        while i > 0 && !isWordCharacter(characters[i - 1]) { i -= 1 }
        while i > 0 && isWordCharacter(characters[i - 1]) { i -= 1 }
        return i
    }

    private func isWordCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || character == "_"
    }
}
