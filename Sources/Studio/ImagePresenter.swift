import Imaging
import Terminal

/// Turns an image into the bytes that show it on a terminal, sized the way chafa and img2sixel
/// size things: pixel formats (sixel, kitty) at the image's own size unless asked for columns or
/// the window is smaller; half-blocks fitted to the window or to exactly the columns asked for.
public struct ImagePresenter: Sendable {
    /// What is known about where the image goes.
    public struct Target: Sendable {
        /// How to draw.
        public var mode: GraphicsMode
        /// Exactly this many columns wide, when set.
        public var columns: Int?
        /// The window's size in cells, when known (only when writing to a terminal).
        public var window: (columns: Int, rows: Int)?
        /// Pixels per character cell, when known.
        public var cellSize: PixelSize?
        /// Settings of the sixel encoder.
        public var sixel: SixelEncoder.Settings

        public init(mode: GraphicsMode, columns: Int? = nil, window: (columns: Int, rows: Int)? = nil,
                    cellSize: PixelSize? = nil, sixel: SixelEncoder.Settings = SixelEncoder.Settings()) {
            self.mode = mode
            self.columns = columns
            self.window = window
            self.cellSize = cellSize
            self.sixel = sixel
        }
    }

    /// Why an image cannot be shown.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// A cell size for pixel formats when the terminal does not tell (xterm's default font is near it).
    public static let assumedCellSize = PixelSize(width: 10, height: 20)
    /// Columns used for half-blocks when neither `columns` nor the window is known.
    public static let defaultColumns = 80

    public init() {}

    /// The bytes that draw `image` on `target`.
    public func render(_ image: RGBImage, on target: Target) throws(Problem) -> [UInt8] {
        switch ImageEncoding(mode: target.mode, sixel: target.sixel) {
        case .pixels(let encode):
            do {
                return try encode(pixelImage(image, on: target))
            } catch {
                throw Problem(description: error.description)
            }
        case .halfBlocks(let encoder):
            return encoder.encode(image, columns: halfBlockColumns(image, on: target))
        case .unavailable:
            throw Problem(description: "this terminal cannot show images (no colour support); choose a format with --graphics")
        }
    }

    /// The image at the pixel size a sixel or kitty image should have on `target`.
    public func pixelImage(_ image: RGBImage, on target: Target) -> RGBImage {
        let cell = target.cellSize ?? Self.assumedCellSize
        if let columns = target.columns {
            let width = columns * cell.width
            let height = max(1, Int((Double(image.height) * Double(width) / Double(image.width)).rounded()))
            return image.fitted(width: width, height: height)
        }
        if let window = target.window {
            // Keep the last row free: an image touching it would scroll the screen.
            let size = image.sizeFitting(maxWidth: window.columns * cell.width, maxHeight: max(1, window.rows - 1) * cell.height)
            return image.fitted(width: size.width, height: size.height)
        }
        return image
    }

    /// The number of half-block columns for `image` on `target`.
    public func halfBlockColumns(_ image: RGBImage, on target: Target) -> Int {
        if let columns = target.columns { return columns }
        if let window = target.window {
            return HalfBlockEncoder.columns(forWidth: image.width, height: image.height,
                                            maxColumns: window.columns, maxRows: max(1, window.rows - 1))
        }
        return min(image.width, Self.defaultColumns)
    }
}
