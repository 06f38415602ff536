import Foundation
import Imaging
import Terminal

/// The bytes that draw an image inside the studio's image pane, written to the tty after curses
/// has refreshed (curses keeps those cells blank): the image scaled to fit the pane with its aspect
/// kept (small images enlarged crisply), centred, every row placed with an absolute cursor move so
/// nothing depends on where curses left the cursor; the cursor is saved and restored around it.
/// Sixel and kitty images are sized in pixels from the cell size; half-blocks in cells.
public struct ImagePane: Sendable {
    public var mode: GraphicsMode
    public var cellSize: PixelSize
    public var sixel: SixelEncoder.Settings

    public init(mode: GraphicsMode, cellSize: PixelSize?, sixel: SixelEncoder.Settings = SixelEncoder.Settings(dither: .ordered)) {
        self.mode = mode
        self.cellSize = cellSize ?? ImagePresenter.assumedCellSize
        self.sixel = sixel
    }

    /// The cells the image takes inside `rect` (row, column, rows, columns), centred.
    public func placement(for image: RGBImage, in rect: Rect) -> Rect {
        switch mode {
        case .sixel, .kitty:
            let size = image.sizeFitting(maxWidth: rect.columns * cellSize.width, maxHeight: rect.rows * cellSize.height,
                                         enlarge: true)
            let columns = min(rect.columns, (size.width + cellSize.width - 1) / cellSize.width)
            let rows = min(rect.rows, (size.height + cellSize.height - 1) / cellSize.height)
            return Rect(row: rect.row + (rect.rows - rows) / 2, column: rect.column + (rect.columns - columns) / 2,
                        rows: rows, columns: columns)
        case .truecolor, .color256, .none:
            let columns = HalfBlockEncoder.columns(forWidth: image.width, height: image.height, maxColumns: rect.columns,
                                                   maxRows: rect.rows, enlarge: true)
            let rows = HalfBlockEncoder.rows(forWidth: image.width, height: image.height, columns: columns)
            return Rect(row: rect.row + (rect.rows - rows) / 2, column: rect.column + (rect.columns - columns) / 2,
                        rows: rows, columns: columns)
        }
    }

    /// Bytes removing what earlier `bytes(for:in:)` drew and rewriting cells does not erase: kitty's
    /// image placements (deleted, with their data); nothing for the other modes, whose pixels are
    /// cells or are overwritten by the cells curses redraws.
    public func clearBytes() -> [UInt8] {
        mode == .kitty ? Array("\u{1B}_Ga=d,d=A\u{1B}\\".utf8) : []
    }

    /// Bytes drawing `image` in `rect` (0-based cells); empty when the mode draws nothing.
    public func bytes(for image: RGBImage, in rect: Rect) -> [UInt8] {
        guard rect.rows > 0, rect.columns > 0 else { return [] }
        let place = placement(for: image, in: rect)
        var out: [UInt8] = Array("\u{1B}7".utf8)  // save cursor
        func move(_ row: Int, _ column: Int) { out += Array("\u{1B}[\(row + 1);\(column + 1)H".utf8) }
        switch mode {
        case .sixel, .kitty:
            let size = image.sizeFitting(maxWidth: rect.columns * cellSize.width, maxHeight: rect.rows * cellSize.height,
                                         enlarge: true)
            let scaled = image.fitted(width: size.width, height: size.height)
            out += clearBytes()  // kitty keeps earlier images until told; sixel pixels are simply overwritten
            move(place.row, place.column)
            if mode == .sixel {
                out += SixelEncoder(settings: sixel).encode(scaled)
            } else {
                out += (try? KittyGraphicsEncoder().encode(scaled)) ?? []
            }
        case .truecolor, .color256:
            let encoder = HalfBlockEncoder(colors: mode == .truecolor ? .truecolor : .palette256)
            let cells = encoder.encode(image, columns: place.columns)
            for (offset, line) in cells.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                .prefix(place.rows).enumerated() {
                move(place.row + offset, place.column)
                out += line
            }
        case .none:
            return []
        }
        out += Array("\u{1B}8".utf8)  // restore cursor
        return out
    }
}
