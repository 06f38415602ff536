import CNcursesw
import Foundation

/// A `TextScreen` on ncursesw: the studio's real screen. Curses owns the text cells and sends
/// only what changed on each `refresh()`; keys are not read through curses (the studio reads the
/// tty itself and decodes them with `KeyDecoder`), so curses runs without keypad translation.
/// Colours come from the theme: exact 24-bit colours where the terminal can redefine colours,
/// else the nearest of the 256-colour palette, else the basic 8.
public final class CursesScreen: TextScreen {
    public private(set) var size: (rows: Int, columns: Int)
    public var cursor: (row: Int, column: Int)?
    private var pairs: [CellStyle.PairKey: Int16] = [:]
    public private(set) var theme: Theme
    private var ended = false

    /// Starts curses on the terminal (`initscr`), raw and without echo. Call `end()` to give the
    /// terminal back (stipple ends with `_exit`: no exit handler would run; docs/DECISIONS.md).
    public init(theme: Theme) {
        setlocale(LC_ALL, "")
        initscr()
        raw()
        noecho()
        nonl()
        intrflush(stipple_stdscr(), false)
        self.theme = theme
        size = (Int(stipple_lines()), Int(stipple_cols()))
        if has_colors() {
            start_color()
            use_default_colors()
        }
    }

    /// Gives the terminal back (idempotent).
    public func end() {
        guard !ended else { return }
        ended = true
        curs_set(1)
        endwin()
    }

    /// Switches to another theme: colour pairs are made again from it and the whole screen is
    /// repainted on the next refresh.
    public func setTheme(_ theme: Theme) {
        self.theme = theme
        pairs.removeAll()
        clearok(stipple_stdscr(), true)
    }

    /// The window changed size: tells curses the new size.
    public func resize(rows: Int, columns: Int) {
        resizeterm(Int32(rows), Int32(columns))
        size = (rows, columns)
    }

    public func put(_ text: String, row: Int, column: Int, style: CellStyle, width: Int?) {
        guard row >= 0, row < size.rows, column < size.columns else { return }
        var characters = Substring(TerminalText.visible(String(text.map { $0.isNewline ? " " : $0 })))
        var start = column
        while start < 0, let first = characters.first {  // starts left of the screen: drop what is off it
            characters.removeFirst()
            start += ColumnWidth.of(first)
        }
        start = max(0, start)
        let room = min(size.columns - start, width ?? Int.max)
        guard room > 0 else { return }
        // Never write the bottom-right cell: on many terminals that scrolls the screen.
        var limit = room
        if row == size.rows - 1 { limit = min(limit, size.columns - 1 - start) }
        guard limit > 0 else { return }
        let clipped = String(ColumnWidth.prefix(characters, columns: limit))
        apply(style)
        _ = mvaddstr(Int32(row), Int32(start), clipped)
    }

    public func fill(row: Int, column: Int, rows: Int, columns: Int, style: CellStyle) {
        guard rows > 0, columns > 0 else { return }
        let blank = String(repeating: " ", count: columns)
        for r in row..<row + rows { put(blank, row: r, column: column, style: style, width: nil) }
    }

    public func refresh() {
        if let cursor {
            curs_set(1)
            move(Int32(cursor.row), Int32(cursor.column))
        } else {
            curs_set(0)
        }
        wnoutrefresh(stipple_stdscr())
        doupdate()
    }

    /// Makes the next refresh rewrite rows `row..<row + count` whether or not curses thinks they
    /// changed (`wredrawln`: curses forgets what it believes the terminal shows there; touching
    /// the lines is not enough, since the refresh still skips cells it believes unchanged): what
    /// erases an image written around curses' back.
    public func touchRows(_ row: Int, count: Int) {
        let start = max(0, row), end = min(size.rows, row + count)
        guard end > start else { return }
        wredrawln(stipple_stdscr(), Int32(start), Int32(end - start))
    }

    /// Erases everything (curses then repaints the whole screen on the next refresh).
    public func repaintAll() {
        clearok(stipple_stdscr(), true)
    }

    private func apply(_ style: CellStyle) {
        var attributes = stipple_attr_normal()
        if style.bold { attributes |= stipple_attr_bold() }
        if style.reverse { attributes |= stipple_attr_reverse() }
        wattr_set(stipple_stdscr(), attributes, pair(for: style), nil)
    }

    /// The colour pair of a style's role (text colour on the background), made on first use.
    private func pair(for style: CellStyle) -> Int16 {
        guard has_colors() else { return 0 }
        let key = style.pairKey
        if let pair = pairs[key] { return pair }
        let number = Int16(pairs.count + 1)
        guard Int32(number) < stipple_color_pairs() else { return 0 }
        let (foreground, background) = Self.colors(for: style.role, theme: theme, colorCount: Int(stipple_colors()))
        init_pair(number, Int16(foreground), style.role == .background ? -1 : Int16(background))
        pairs[key] = number
        return number
    }

    /// The curses colour numbers (foreground, background) of a role: the nearest xterm-256
    /// colours on terminals with 256, else basic colours chosen to stay legible.
    ///
    /// With 8 colours many theme colours collapse onto the screen's own (a dark grey frame on a
    /// near-black background becomes black on black; the light theme's pale status bar and
    /// selection become white on white), so: a highlight background (status bar, selection) that
    /// lands on the screen's colour is drawn in reverse, text colour on screen colour; text that
    /// lands on its background becomes black on a light background, white on a dark one.
    static func colors(for role: Theme.Role, theme: Theme, colorCount: Int) -> (foreground: Int, background: Int) {
        let backgroundRole: Theme.Role = switch role {
        case .statusBackground, .statusText: .statusBackground
        case .selection: .selection
        default: .background
        }
        // Roles that are backgrounds take the text colour that goes on them.
        let foregroundRole: Theme.Role = switch role {
        case .statusBackground: .statusText
        case .selection: .text
        default: role
        }
        if colorCount >= 256 {
            return (xterm256(theme[foregroundRole]), xterm256(theme[backgroundRole]))
        }
        let screen = basic(theme[.background])
        var foreground = basic(theme[foregroundRole]), background = basic(theme[backgroundRole])
        if backgroundRole != .background && background == screen {
            background = basic(theme[.text]) == screen ? (isLight(theme[.background]) ? 0 : 7) : basic(theme[.text])
            foreground = screen
        }
        if foreground == background {
            foreground = isLight(background == screen ? theme[.background] : theme[backgroundRole]) ? 0 : 7
            if foreground == background { foreground = 7 - background }
        }
        return (foreground, background)
    }

    /// The nearest of the 8 basic colours (each channel on or off).
    static func basic(_ c: Theme.Color) -> Int {
        (c.red > 127 ? 1 : 0) | (c.green > 127 ? 2 : 0) | (c.blue > 127 ? 4 : 0)
    }

    static func isLight(_ c: Theme.Color) -> Bool {
        Int(c.red) + Int(c.green) + Int(c.blue) > 3 * 127
    }

    /// The nearest colour of xterm's 256-colour palette (6x6x6 cube or grey ramp).
    static func xterm256(_ c: Theme.Color) -> Int {
        let levels = [0, 95, 135, 175, 215, 255]
        func nearestLevel(_ v: UInt8) -> Int {
            levels.indices.min { abs(levels[$0] - Int(v)) < abs(levels[$1] - Int(v)) }!
        }
        let (r, g, b) = (nearestLevel(c.red), nearestLevel(c.green), nearestLevel(c.blue))
        let cube = 16 + 36 * r + 6 * g + b
        func squared(_ a: Int, _ b: UInt8) -> Int { (a - Int(b)) * (a - Int(b)) }
        let cubeDistance: Int = squared(levels[r], c.red) + squared(levels[g], c.green) + squared(levels[b], c.blue)
        let mean: Int = (Int(c.red) + Int(c.green) + Int(c.blue)) / 3
        let greyIndex = min(23, max(0, (mean - 8 + 5) / 10))
        let grey = 8 + 10 * greyIndex
        let greyDistance: Int = squared(grey, c.red) + squared(grey, c.green) + squared(grey, c.blue)
        return greyDistance < cubeDistance ? 232 + greyIndex : cube
    }
}

extension CellStyle {
    struct PairKey: Hashable {
        var role: Theme.Role
    }

    var pairKey: PairKey { PairKey(role: role) }
}
