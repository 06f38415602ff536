/// stipple's own fixed-width bitmap font for printable ASCII (32-126), drawn for this project:
/// picture views (plots, labelled grids) write their labels with it, so a saved PNG carries its
/// text without any font on the system. Each glyph is 5 x 9 bits: rows 0-6 hold capitals, digits
/// and the x-height letters (baseline at row 6), rows 7-8 the descenders of g, j, p, q, y and , ;.
/// A cell is 6 x 10 (one column and one row of spacing). Every other character (control, non-ASCII)
/// draws as a hollow box, so a missing glyph is visible rather than silently dropped.
public enum BitmapFont {
    /// Glyph width in bits.
    public static let glyphWidth = 5
    /// Glyph height in bits, descenders included.
    public static let glyphHeight = 9
    /// Horizontal advance per character, at scale 1.
    public static let advance = 6
    /// Vertical advance per line, at scale 1.
    public static let lineAdvance = 10
    /// The largest scale drawn; larger requests are clamped (a glyph bit is `scale` x `scale` pixels).
    public static let maxScale = 64

    /// The scale clamped to 1...maxScale.
    @inlinable public static func clampedScale(_ scale: Int) -> Int { min(max(scale, 1), maxScale) }

    /// The rows of a character's glyph, top first; bit 4 of each row is the leftmost column.
    public static func rows(of character: Character) -> ArraySlice<UInt8> {
        let index = glyphIndex(character)
        return bits[(index * glyphHeight)..<((index + 1) * glyphHeight)]
    }

    /// The glyph slot of a character: 0-94 for ASCII 32-126, 95 for the placeholder box.
    static func glyphIndex(_ character: Character) -> Int {
        guard let ascii = character.asciiValue, ascii >= 32, ascii <= 126 else { return placeholderIndex }
        return Int(ascii) - 32
    }

    static let placeholderIndex = 95

    /// The size of `text` drawn at `scale`: lines split at "\n", each character one cell, without
    /// the spacing after the last column and below the last line, so the box is exactly the
    /// pixels a glyph may set (`(0, 0)` for empty text).
    public static func measure(_ text: String, scale: Int = 1) -> (width: Int, height: Int) {
        let s = clampedScale(scale)
        var longest = 0
        var lines = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            longest = max(longest, line.count)
            lines += 1
        }
        guard longest > 0 else { return (0, lines > 1 ? ((lines - 1) * lineAdvance + glyphHeight) * s : 0) }
        return ((longest * advance - 1) * s, ((lines - 1) * lineAdvance + glyphHeight) * s)
    }

    /// The width of one line of `count` characters at `scale` (0 for none).
    @inlinable public static func width(ofCharacters count: Int, scale: Int = 1) -> Int {
        count > 0 ? (min(count, 1 << 40) * advance - 1) * clampedScale(scale) : 0
    }

    /// `text` broken into lines no wider than `maxWidth` pixels at `scale`: at spaces where it can,
    /// inside a word where a word alone is too wide; existing "\n" breaks are kept. At most
    /// `maxLines` lines; when text is cut, the last line ends in "..." (where at least three
    /// characters fit). Always at least one character per line, so it terminates for any width.
    public static func wrap(_ text: String, maxWidth: Int, scale: Int = 1, maxLines: Int = 64) -> [String] {
        let perLine = max(1, (min(max(maxWidth, 0), 1 << 40) / clampedScale(scale) + 1) / advance)
        let limit = max(1, maxLines)
        var lines: [String] = []
        var truncated = false
        outer: for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var current = ""
            var currentCount = 0
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: true) {
                var rest = Substring(word)
                while !rest.isEmpty {
                    let gap = currentCount > 0 ? 1 : 0
                    if currentCount + gap + rest.count <= perLine {
                        if gap == 1 { current += " " }
                        current += rest
                        currentCount += gap + rest.count
                        rest = ""
                    } else if currentCount > 0 {
                        if lines.count == limit { truncated = true; break outer }
                        lines.append(current)
                        current = ""
                        currentCount = 0
                    } else {
                        if lines.count == limit { truncated = true; break outer }
                        lines.append(String(rest.prefix(perLine)))
                        rest = rest.dropFirst(perLine)
                    }
                }
            }
            if lines.count == limit { truncated = true; break }
            lines.append(current)
        }
        if truncated, let last = lines.last {
            lines[lines.count - 1] = perLine >= 3 ? String(last.prefix(perLine - 3)) + "..." : last
        }
        return lines.isEmpty ? [""] : lines
    }

    /// Every glyph's rows, `glyphHeight` bytes per slot, slots 0-94 for ASCII 32-126, 95 the placeholder.
    static let bits: [UInt8] = {
        var out: [UInt8] = []
        out.reserveCapacity((glyphs.count) * glyphHeight)
        for art in glyphs {
            var rows = art.split(separator: " ").map { row -> UInt8 in
                row.reduce(UInt8(0)) { ($0 << 1) | ($1 == "#" ? 1 : 0) }
            }
            while rows.count < glyphHeight { rows.append(0) }
            out += rows.prefix(glyphHeight)
        }
        return out
    }()

    /// The glyphs as art: rows of 5 ("#" set, "." clear) separated by spaces, top row first;
    /// rows left out at the bottom are clear. In ASCII order from space to "~", then the placeholder.
    static let glyphs: [String] = [
        "..... ..... ..... ..... ..... ..... .....",  // space
        "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",  // !
        ".#.#. .#.#. .#.#. ..... ..... ..... .....",  // "
        ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",  // #
        "..#.. .#### #.#.. .###. ..#.# ####. ..#..",  // $
        "##..# ##..# ...#. ..#.. .#... #..## #..##",  // %
        ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",  // &
        "..#.. ..#.. .#... ..... ..... ..... .....",  // '
        "...#. ..#.. .#... .#... .#... ..#.. ...#.",  // (
        ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",  // )
        "..... ..#.. #.#.# .###. #.#.# ..#.. .....",  // *
        "..... ..#.. ..#.. ##### ..#.. ..#.. .....",  // +
        "..... ..... ..... ..... ..... ..... .##.. ..#.. .#...",  // ,
        "..... ..... ..... ##### ..... ..... .....",  // -
        "..... ..... ..... ..... ..... .##.. .##..",  // .
        "....# ....# ...#. ..#.. .#... #.... #....",  // /
        ".###. #...# #..## #.#.# ##..# #...# .###.",  // 0
        "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",  // 1
        ".###. #...# ....# ...#. ..#.. .#... #####",  // 2
        "##### ...#. ..#.. ...#. ....# #...# .###.",  // 3
        "...#. ..##. .#.#. #..#. ##### ...#. ...#.",  // 4
        "##### #.... ####. ....# ....# #...# .###.",  // 5
        "..##. .#... #.... ####. #...# #...# .###.",  // 6
        "##### ....# ...#. ..#.. .#... .#... .#...",  // 7
        ".###. #...# #...# .###. #...# #...# .###.",  // 8
        ".###. #...# #...# .#### ....# ...#. .##..",  // 9
        "..... .##.. .##.. ..... .##.. .##.. .....",  // :
        "..... .##.. .##.. ..... ..... .##.. .##.. ..#.. .#...",  // ;
        "...#. ..#.. .#... #.... .#... ..#.. ...#.",  // <
        "..... ..... ##### ..... ##### ..... .....",  // =
        ".#... ..#.. ...#. ....# ...#. ..#.. .#...",  // >
        ".###. #...# ....# ...#. ..#.. ..... ..#..",  // ?
        ".###. #...# ....# .##.# #.#.# #.#.# .###.",  // @
        ".###. #...# #...# ##### #...# #...# #...#",  // A
        "####. #...# #...# ####. #...# #...# ####.",  // B
        ".###. #...# #.... #.... #.... #...# .###.",  // C
        "###.. #..#. #...# #...# #...# #..#. ###..",  // D
        "##### #.... #.... ####. #.... #.... #####",  // E
        "##### #.... #.... ####. #.... #.... #....",  // F
        ".###. #...# #.... #.### #...# #...# .####",  // G
        "#...# #...# #...# ##### #...# #...# #...#",  // H
        ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",  // I
        "..### ...#. ...#. ...#. ...#. #..#. .##..",  // J
        "#...# #..#. #.#.. ##... #.#.. #..#. #...#",  // K
        "#.... #.... #.... #.... #.... #.... #####",  // L
        "#...# ##.## #.#.# #.#.# #...# #...# #...#",  // M
        "#...# #...# ##..# #.#.# #..## #...# #...#",  // N
        ".###. #...# #...# #...# #...# #...# .###.",  // O
        "####. #...# #...# ####. #.... #.... #....",  // P
        ".###. #...# #...# #...# #.#.# #..#. .##.#",  // Q
        "####. #...# #...# ####. #.#.. #..#. #...#",  // R
        ".#### #.... #.... .###. ....# ....# ####.",  // S
        "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",  // T
        "#...# #...# #...# #...# #...# #...# .###.",  // U
        "#...# #...# #...# #...# #...# .#.#. ..#..",  // V
        "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",  // W
        "#...# #...# .#.#. ..#.. .#.#. #...# #...#",  // X
        "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",  // Y
        "##### ....# ...#. ..#.. .#... #.... #####",  // Z
        ".###. .#... .#... .#... .#... .#... .###.",  // [
        "#.... #.... .#... ..#.. ...#. ....# ....#",  // backslash
        ".###. ...#. ...#. ...#. ...#. ...#. .###.",  // ]
        "..#.. .#.#. #...# ..... ..... ..... .....",  // ^
        "..... ..... ..... ..... ..... ..... ..... #####",  // _
        ".#... ..#.. ..... ..... ..... ..... .....",  // `
        "..... ..... .###. ....# .#### #...# .####",  // a
        "#.... #.... ####. #...# #...# #...# ####.",  // b
        "..... ..... .###. #.... #.... #...# .###.",  // c
        "....# ....# .#### #...# #...# #...# .####",  // d
        "..... ..... .###. #...# ##### #.... .###.",  // e
        "..##. .#..# .#... ###.. .#... .#... .#...",  // f
        "..... ..... .#### #...# #...# #...# .#### ....# .###.",  // g
        "#.... #.... #.##. ##..# #...# #...# #...#",  // h
        "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",  // i
        "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..",  // j
        "#.... #.... #..#. #.#.. ##... #.#.. #..#.",  // k
        ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",  // l
        "..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#",  // m
        "..... ..... #.##. ##..# #...# #...# #...#",  // n
        "..... ..... .###. #...# #...# #...# .###.",  // o
        "..... ..... ####. #...# #...# #...# ####. #.... #....",  // p
        "..... ..... .#### #...# #...# #...# .#### ....# ....#",  // q
        "..... ..... #.##. ##..# #.... #.... #....",  // r
        "..... ..... .#### #.... .###. ....# ####.",  // s
        ".#... .#... ###.. .#... .#... .#..# ..##.",  // t
        "..... ..... #...# #...# #...# #..## .##.#",  // u
        "..... ..... #...# #...# #...# .#.#. ..#..",  // v
        "..... ..... #...# #...# #.#.# #.#.# .#.#.",  // w
        "..... ..... #...# .#.#. ..#.. .#.#. #...#",  // x
        "..... ..... #...# #...# #...# #...# .#### ....# .###.",  // y
        "..... ..... ##### ...#. ..#.. .#... #####",  // z
        "...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.",  // {
        "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",  // |
        ".#... ..#.. ..#.. ...#. ..#.. ..#.. .#...",  // }
        "..... ..... .#... #.#.# ...#. ..... .....",  // ~
        "##### #...# #...# #...# #...# #...# #####",  // placeholder: a hollow box
    ]
}
