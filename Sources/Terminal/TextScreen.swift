/// A grid of character cells that views draw on: the curses screen in the studio, an in-memory
/// `HeadlessScreen` in tests. Coordinates are (row, column) from the top left; text that runs
/// past the right edge or the bottom is clipped, never wrapped.
public protocol TextScreen: AnyObject {
    /// Rows and columns.
    var size: (rows: Int, columns: Int) { get }
    /// Writes `text` from (row, column) in `style`, clipped to the screen (and to `width` when given).
    func put(_ text: String, row: Int, column: Int, style: CellStyle, width: Int?)
    /// Fills a rectangle with spaces in `style`.
    func fill(row: Int, column: Int, rows: Int, columns: Int, style: CellStyle)
    /// Where the terminal cursor should be shown after the next refresh; nil hides it.
    var cursor: (row: Int, column: Int)? { get set }
    /// Shows what was drawn since the last refresh.
    func refresh()
}

extension TextScreen {
    public func put(_ text: String, row: Int, column: Int, style: CellStyle = .normal) {
        put(text, row: row, column: column, style: style, width: nil)
    }

    /// Clears the whole screen.
    public func clear(style: CellStyle = .normal) {
        fill(row: 0, column: 0, rows: size.rows, columns: size.columns, style: style)
    }
}

/// How a cell is drawn: a theme role for its colours and text attributes.
public struct CellStyle: Hashable, Sendable {
    public var role: Theme.Role
    public var bold: Bool
    public var reverse: Bool

    public init(_ role: Theme.Role, bold: Bool = false, reverse: Bool = false) {
        self.role = role
        self.bold = bold
        self.reverse = reverse
    }

    public static let normal = CellStyle(.text)
}

/// A `TextScreen` in memory: tests draw views on it and read back the cells (and the text a
/// person would see).
public final class HeadlessScreen: TextScreen {
    public struct Cell: Equatable, Sendable {
        public var character: Character
        public var style: CellStyle
        /// The right half of a two-column character drawn in the cell before (holds a space).
        public var isContinuation = false
    }

    public private(set) var size: (rows: Int, columns: Int)
    public private(set) var cells: [[Cell]]
    public var cursor: (row: Int, column: Int)?
    /// How many times `refresh()` was called.
    public private(set) var refreshCount = 0

    public init(rows: Int, columns: Int) {
        size = (rows, columns)
        cells = Array(repeating: Array(repeating: Cell(character: " ", style: .normal), count: columns), count: rows)
    }

    /// Changes the size (a window resize), keeping what fits.
    public func resize(rows: Int, columns: Int) {
        var resized = Array(repeating: Array(repeating: Cell(character: " ", style: .normal), count: columns), count: rows)
        for row in 0..<min(rows, size.rows) {
            for column in 0..<min(columns, size.columns) { resized[row][column] = cells[row][column] }
        }
        cells = resized
        size = (rows, columns)
    }

    public func put(_ text: String, row: Int, column: Int, style: CellStyle, width: Int?) {
        guard row >= 0, row < size.rows else { return }
        var x = column
        let limit = min(size.columns, width.map { column + $0 } ?? size.columns)
        // As CursesScreen draws it: line breaks as spaces, other controls as visible escapes.
        // Wide characters take two cells (the second marked as their continuation), zero-width
        // ones none; a wide character that would straddle the limit is left out, as curses does.
        for character in TerminalText.visible(String(text.map { $0.isNewline ? " " : $0 })) {
            let columns = ColumnWidth.of(character)
            guard x + columns <= limit else { break }
            if x >= 0 && columns > 0 {
                // Half of a wide character overwritten: its other half becomes a blank.
                if cells[row][x].isContinuation && x > 0 { cells[row][x - 1].character = " " }
                let after = x + columns
                if after < size.columns && cells[row][after].isContinuation {
                    cells[row][after] = Cell(character: " ", style: cells[row][after].style)
                }
                cells[row][x] = Cell(character: character, style: style)
                if columns == 2 { cells[row][x + 1] = Cell(character: " ", style: style, isContinuation: true) }
            }
            x += columns
        }
    }

    public func fill(row: Int, column: Int, rows: Int, columns: Int, style: CellStyle) {
        guard rows > 0, columns > 0 else { return }
        let blank = String(repeating: " ", count: columns)  // through put: halves of wide characters too
        for r in max(0, row)..<min(size.rows, row + rows) { put(blank, row: r, column: column, style: style, width: nil) }
    }

    public func refresh() {
        refreshCount += 1
    }

    /// The text of one row, trailing spaces removed.
    public func line(_ row: Int) -> String {
        var text = String(cells[row].filter { !$0.isContinuation }.map(\.character))
        while text.last == " " { text.removeLast() }
        return text
    }

    /// Every row's text joined by newlines (what `tmux capture-pane` would show).
    public var text: String { (0..<size.rows).map(line).joined(separator: "\n") }

    /// Whether `needle` appears on some row.
    public func contains(_ needle: String) -> Bool { (0..<size.rows).contains { line($0).contains(needle) } }
}
