import Diffusion
import Foundation
import Imaging

/// A timeline as one picture: every step's preview in a grid, left to right and top to bottom,
/// each with its step number under it, and the final image last ("final" under it). Small
/// previews (approx previews are one pixel per latent cell) are enlarged crisply to a common cell
/// size; large ones shrink to at most `maxCell` pixels a side.
public struct ContactSheet {
    public var maxCell = 256
    public var minCell = 128
    public var maxColumns = 10
    /// Pixels between cells and around the sheet.
    public var gap = 6
    public var background: (r: UInt8, g: UInt8, b: UInt8) = (24, 24, 28)
    public var ink: (r: UInt8, g: UInt8, b: UInt8) = (220, 220, 220)

    public init() {}

    /// Height of a label row: 5-pixel glyphs at `labelScale`, with a pixel-scaled margin.
    var labelScale: Int { 2 }
    var labelHeight: Int { 5 * labelScale + 2 * labelScale }

    /// The sheet for `latent`'s previews of `timeline`; nil when it has no frames to show.
    public func render(_ timeline: Timeline, latent: PreviewLatent) -> RGBImage? {
        var cells: [(label: String, image: PixelImage)] = timeline.framesWithPreviews(latent).map { ("\($0.step)", $0.image) }
        if let final = timeline.final { cells.append(("final", final)) }
        guard let first = cells.first?.image else { return nil }
        // The cell: the largest frame's aspect, between minCell and maxCell on its longer side.
        let reference = timeline.final ?? cells.map(\.image).max { $0.width * $0.height < $1.width * $1.height } ?? first
        let longer = max(reference.width, reference.height)
        let side = min(maxCell, max(minCell, longer))
        let cellWidth = max(1, reference.width * side / longer)
        let cellHeight = max(1, reference.height * side / longer)
        let columns = min(maxColumns, max(1, Int(Double(cells.count).squareRoot().rounded(.up))))
        let rows = (cells.count + columns - 1) / columns
        let width = gap + columns * (cellWidth + gap)
        let height = gap + rows * (cellHeight + labelHeight + gap)
        var sheet = RGBImage(width: width, height: height, fill: background)
        for (index, cell) in cells.enumerated() {
            let x = gap + (index % columns) * (cellWidth + gap)
            let y = gap + (index / columns) * (cellHeight + labelHeight + gap)
            let source = RGBImage(cell.image)
            let size = source.sizeFitting(maxWidth: cellWidth, maxHeight: cellHeight, enlarge: true)
            let scaled = source.fitted(width: size.width, height: size.height)
            blit(scaled, into: &sheet, x: x + (cellWidth - size.width) / 2, y: y + (cellHeight - size.height) / 2)
            let textWidth = PixelFont.width(of: cell.label, scale: labelScale)
            PixelFont.draw(cell.label, into: &sheet, x: x + max(0, (cellWidth - textWidth) / 2),
                           y: y + cellHeight + labelScale, scale: labelScale, color: ink)
        }
        return sheet
    }

    func blit(_ image: RGBImage, into sheet: inout RGBImage, x: Int, y: Int) {
        let rowBytes = image.width * 3
        image.pixels.withUnsafeBufferPointer { src in
            sheet.pixels.withUnsafeMutableBufferPointer { dst in
                for row in 0..<image.height {
                    let target = ((y + row) * sheet.width + x) * 3
                    for i in 0..<rowBytes { dst[target + i] = src[row * rowBytes + i] }
                }
            }
        }
    }
}

/// A 3x5 pixel font for the contact sheet's labels: digits and the few letters it needs.
enum PixelFont {
    /// Each glyph: five rows of three bits, top row first, most significant bit on the left.
    static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7],
        "4": [5, 5, 7, 1, 1], "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1],
        "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7], "f": [3, 4, 6, 4, 4], "i": [2, 0, 2, 2, 2],
        "n": [0, 6, 5, 5, 5], "a": [0, 3, 5, 5, 3], "l": [2, 2, 2, 2, 3], " ": [0, 0, 0, 0, 0],
    ]

    static func width(of text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * 4 - 1) * scale
    }

    static func draw(_ text: String, into image: inout RGBImage, x: Int, y: Int, scale: Int,
                     color: (r: UInt8, g: UInt8, b: UInt8)) {
        for (index, character) in text.enumerated() {
            guard let rows = glyphs[character] else { continue }
            let left = x + index * 4 * scale
            for (row, bits) in rows.enumerated() {
                for column in 0..<3 where bits & (4 >> column) != 0 {
                    for dy in 0..<scale {
                        for dx in 0..<scale {
                            let px = left + column * scale + dx, py = y + row * scale + dy
                            guard px >= 0, px < image.width, py >= 0, py < image.height else { continue }
                            let offset = (py * image.width + px) * 3
                            image.pixels[offset] = color.r
                            image.pixels[offset + 1] = color.g
                            image.pixels[offset + 2] = color.b
                        }
                    }
                }
            }
        }
    }
}
