import Foundation
import Imaging
import Terminal
import Testing
@testable import Studio

/// What the studio writes into its image pane: the image scaled to fit with its aspect kept
/// (small ones enlarged), centred, every row placed with an absolute cursor move inside the pane,
/// the cursor saved and restored around it; kitty images deleted before a new one and on clearing.
@Suite struct ImagePaneTests {
    static let image: RGBImage = {
        var pixels: [UInt8] = []
        for i in 0..<64 * 32 { pixels += [UInt8(i % 256), UInt8(i / 8 % 256), 90] }
        return RGBImage(width: 64, height: 32, pixels: pixels)
    }()
    static let pane = Rect(row: 2, column: 40, rows: 20, columns: 50)

    /// The (row, column) of every `ESC [ r ; c H` in `bytes`, 0-based.
    static func moves(in bytes: [UInt8]) -> [(Int, Int)] {
        let text = String(decoding: bytes, as: UTF8.self)
        let regex = try! NSRegularExpression(pattern: "\u{1B}\\[(\\d+);(\\d+)H")
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { match in
            (Int(text[Range(match.range(at: 1), in: text)!])! - 1, Int(text[Range(match.range(at: 2), in: text)!])! - 1)
        }
    }

    @Test func sixelIsScaledToThePaneCentredAndPlacedInIt() throws {
        let pane = ImagePane(mode: .sixel, cellSize: PixelSize(width: 10, height: 20))
        let place = pane.placement(for: Self.image, in: Self.pane)
        // 50x20 cells of 10x20 px = 500x400 px; a 2:1 image fills the width: 500x250 px = 50 x 13 cells.
        #expect(place == Rect(row: 2 + (20 - 13) / 2, column: 40, rows: 13, columns: 50))
        let bytes = pane.bytes(for: Self.image, in: Self.pane)
        #expect(bytes.starts(with: Array("\u{1B}7".utf8)) && Array(bytes.suffix(2)) == Array("\u{1B}8".utf8))
        #expect(Self.moves(in: bytes).map { [$0.0, $0.1] } == [[place.row, place.column]])
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\u{1B}P") && text.contains("\"1;1;500;250"), "raster attributes give the scaled size")
        #expect(pane.clearBytes().isEmpty)
    }

    @Test func halfBlocksPutEveryRowInsideThePane() throws {
        for mode in [GraphicsMode.truecolor, .color256] {
            let pane = ImagePane(mode: mode, cellSize: nil)
            let place = pane.placement(for: Self.image, in: Self.pane)
            let moves = Self.moves(in: pane.bytes(for: Self.image, in: Self.pane))
            #expect(moves.count == place.rows)
            #expect(moves.map { $0.0 } == Array(place.row..<place.row + place.rows))
            #expect(moves.allSatisfy { $0.1 == place.column })
            #expect(place.row >= Self.pane.row && place.row + place.rows <= Self.pane.row + Self.pane.rows)
            #expect(place.columns == Self.pane.columns, "a 2:1 image fills the pane's width")
        }
    }

    @Test func kittyDeletesEarlierImages() {
        let pane = ImagePane(mode: .kitty, cellSize: PixelSize(width: 10, height: 20))
        let text = String(decoding: pane.bytes(for: Self.image, in: Self.pane), as: UTF8.self)
        let delete = "\u{1B}_Ga=d,d=A\u{1B}\\"
        #expect(text.hasPrefix("\u{1B}7" + delete))
        #expect(String(decoding: pane.clearBytes(), as: UTF8.self) == delete)
        #expect(ImagePane(mode: .none, cellSize: nil).bytes(for: Self.image, in: Self.pane).isEmpty)
    }
}
