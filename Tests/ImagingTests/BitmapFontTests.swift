import Testing
@testable import Imaging

@Suite struct BitmapFontTests {
    static let printable = (32...126).map { Character(Unicode.Scalar(UInt8($0))) }

    @Test func everyPrintableGlyphIsDistinctAndOnlySpaceIsBlank() {
        var seen: [[UInt8]: Character] = [:]
        for character in Self.printable {
            let rows = Array(BitmapFont.rows(of: character))
            #expect(rows.count == BitmapFont.glyphHeight)
            #expect(rows.allSatisfy { $0 < 32 }, "\(character) is wider than 5 bits")
            #expect(rows.contains { $0 != 0 } == (character != " "), "\(character)")
            if let other = seen[rows] { Issue.record("\(character) looks like \(other)") }
            seen[rows] = character
        }
        #expect(BitmapFont.glyphs.count == 96)
        let placeholder = Array(BitmapFont.rows(of: "é"))
        #expect(seen[placeholder] == nil)
        #expect(Array(BitmapFont.rows(of: "\u{7}")) == placeholder)
        #expect(Array(BitmapFont.rows(of: "👩‍👩‍👧")) == placeholder)
    }

    @Test func measureIsTheBoxOfTheDrawnPixels() {
        for scale in [1, 2, 3] {
            for text in ["Hg", "Hy", "ABCDEFGHIJ\nqpH", "E_%g", "Wj0q"] {
                var canvas = Canvas(width: 200, height: 120)
                canvas.text(text, x: 7, y: 5, Drawn.white, scale: scale)
                let size = BitmapFont.measure(text, scale: scale)
                #expect(Drawn.boundingBox(Drawn.ink(canvas)) == PixelRect(x: 7, y: 5, width: size.width, height: size.height),
                        "\(text) at scale \(scale)")
            }
        }
        // Every string's pixels stay inside its measure.
        for character in Self.printable {
            var canvas = Canvas(width: 40, height: 40)
            let text = "\(character)\(character)"
            canvas.text(text, x: 3, y: 4, Drawn.white, scale: 2)
            let size = BitmapFont.measure(text, scale: 2)
            #expect(Drawn.ink(canvas).allSatisfy { $0.x >= 3 && $0.y >= 4 && $0.x < 3 + size.width && $0.y < 4 + size.height })
        }
        #expect(BitmapFont.measure("") == (0, 0))
        #expect(BitmapFont.measure("abc", scale: 2) == (34, 18))
    }

    @Test func scaleDrawsEachBitAsABlock() {
        var small = Canvas(width: 10, height: 10), big = Canvas(width: 30, height: 30)
        small.text("R", x: 0, y: 0, Drawn.white)
        big.text("R", x: 0, y: 0, Drawn.white, scale: 3)
        for y in 0..<30 {
            for x in 0..<30 { #expect(big.color(x: x, y: y) == small.color(x: x / 3, y: y / 3)) }
        }
    }

    @Test func wrapBreaksAtSpacesAndInsideLongWords() {
        let width = BitmapFont.width(ofCharacters: 10)
        #expect(BitmapFont.wrap("euler a karras 20 steps", maxWidth: width) == ["euler a", "karras 20", "steps"])
        #expect(BitmapFont.wrap("abcdefghijklmnopqrstuvwxyz", maxWidth: width) == ["abcdefghij", "klmnopqrst", "uvwxyz"])
        #expect(BitmapFont.wrap("one\ntwo", maxWidth: 1000) == ["one", "two"])
        #expect(BitmapFont.wrap("a b c d e f", maxWidth: BitmapFont.width(ofCharacters: 3), maxLines: 2) == ["a b", "..."])
        #expect(BitmapFont.wrap("no limit at all", maxWidth: Int.max, scale: Int.max) == ["no limit at all"])
        #expect(BitmapFont.width(ofCharacters: Int.max) > 0)
        #expect(BitmapFont.wrap("anything", maxWidth: -5) == ["a", "n", "y", "t", "h", "i", "n", "g"])
        for line in BitmapFont.wrap("The quick brown fox jumps over the lazy dog", maxWidth: width) {
            #expect(BitmapFont.measure(line).width <= width)
        }
    }
}
