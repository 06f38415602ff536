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
        for character in TerminalText.visible(String(text.map { $0.isNewline ? " " : $0 })) {
            guard x < limit else { break }
            if x >= 0 {
                cells[row][x] = Cell(character: character, style: style)
            }
            x += 1
        }
    }

    public func fill(row: Int, column: Int, rows: Int, columns: Int, style: CellStyle) {
        for r in max(0, row)..<min(size.rows, row + rows) where rows > 0 {
            for c in max(0, column)..<min(size.columns, column + columns) where columns > 0 {
                cells[r][c] = Cell(character: " ", style: style)
            }
        }
    }

    public func refresh() {
        refreshCount += 1
    }

    /// The text of one row, trailing spaces removed.
    public func line(_ row: Int) -> String {
        var text = String(cells[row].map(\.character))
        while text.last == " " { text.removeLast() }
        return text
    }

    /// Every row's text joined by newlines (what `tmux capture-pane` would show).
    public var text: String { (0..<size.rows).map(line).joined(separator: "\n") }

    /// Whether `needle` appears on some row.
    public func contains(_ needle: String) -> Bool { (0..<size.rows).contains { line($0).contains(needle) } }
}
