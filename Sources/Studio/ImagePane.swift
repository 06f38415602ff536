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
        switch ImageEncoding(mode: mode, sixel: sixel) {
        case .pixels:
            let size = pixelSize(for: image, in: rect)
            let columns = min(rect.columns, (size.width + cellSize.width - 1) / cellSize.width)
            let rows = min(rect.rows, (size.height + cellSize.height - 1) / cellSize.height)
            return Rect(row: rect.row + (rect.rows - rows) / 2, column: rect.column + (rect.columns - columns) / 2,
                        rows: rows, columns: columns)
        case .halfBlocks, .unavailable:
            let columns = HalfBlockEncoder.columns(forWidth: image.width, height: image.height, maxColumns: rect.columns,
                                                   maxRows: rect.rows, enlarge: true)
            let rows = HalfBlockEncoder.rows(forWidth: image.width, height: image.height, columns: columns)
            return Rect(row: rect.row + (rect.rows - rows) / 2, column: rect.column + (rect.columns - columns) / 2,
                        rows: rows, columns: columns)
        }
    }

    /// The pixel size a sixel or kitty image gets in `rect`: fitted, aspect kept, enlarged when small.
    private func pixelSize(for image: RGBImage, in rect: Rect) -> (width: Int, height: Int) {
        image.sizeFitting(maxWidth: rect.columns * cellSize.width, maxHeight: rect.rows * cellSize.height, enlarge: true)
    }

    /// Bytes removing what earlier `bytes(for:in:)` drew and rewriting cells does not erase: kitty's
    /// image placements (deleted, with their data); nothing for the other modes, whose pixels are
    /// cells or are overwritten by the cells curses redraws.
    public func clearBytes() -> [UInt8] {
        mode == .kitty ? Array(EscapeSequence.kittyDeleteAllImages.utf8) : []
    }

    /// Bytes drawing `image` in `rect` (0-based cells); empty when the mode draws nothing.
    public func bytes(for image: RGBImage, in rect: Rect) -> [UInt8] {
        guard rect.rows > 0, rect.columns > 0 else { return [] }
        let place = placement(for: image, in: rect)
        var out: [UInt8] = Array(EscapeSequence.saveCursor.utf8)
        func move(_ row: Int, _ column: Int) { out += Array(EscapeSequence.cursorPosition(row: row, column: column).utf8) }
        switch ImageEncoding(mode: mode, sixel: sixel) {
        case .pixels(let encode):
            let size = pixelSize(for: image, in: rect)
            let scaled = image.fitted(width: size.width, height: size.height)
            out += clearBytes()  // kitty keeps earlier images until told; sixel pixels are simply overwritten
            move(place.row, place.column)
            out += (try? encode(scaled)) ?? []
        case .halfBlocks(let encoder):
            let cells = encoder.encode(image, columns: place.columns)
            for (offset, line) in cells.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                .prefix(place.rows).enumerated() {
                move(place.row + offset, place.column)
                out += line
            }
        case .unavailable:
            return []
        }
        out += Array(EscapeSequence.restoreCursor.utf8)
        return out
    }
}
