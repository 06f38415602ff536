/// Images composed into one labelled picture, the X/Y plot layout A1111 made familiar: an optional
/// title across the top, a label above each column, a label left of each row, and the cells in a
/// grid with a small gap. Every cell is drawn fitted (nearest neighbour, aspect kept) into one box:
/// the largest cell's size times `cellScale`. A missing cell is a neutral box saying why
/// (`missingText`). Labels wrap to their space and are cut with "..." when they do not fit.
public struct LabelledGrid: Sendable {
    /// The colours of a grid.
    public struct Theme: Sendable, Equatable {
        public var background: Canvas.Color
        public var text: Canvas.Color
        /// The box drawn for a missing cell.
        public var missingCell: Canvas.Color
        public var missingText: Canvas.Color

        public init(background: Canvas.Color, text: Canvas.Color, missingCell: Canvas.Color, missingText: Canvas.Color) {
            self.background = background
            self.text = text
            self.missingCell = missingCell
            self.missingText = missingText
        }

        /// Black on white, as A1111 saves its grids.
        public static let light = Theme(background: .init(r: 255, g: 255, b: 255), text: .init(r: 0, g: 0, b: 0),
                                        missingCell: .init(r: 214, g: 214, b: 218), missingText: .init(r: 80, g: 80, b: 86))
        /// Light grey on near-black, for the studio.
        public static let dark = Theme(background: .init(r: 22, g: 22, b: 26), text: .init(r: 230, g: 230, b: 235),
                                       missingCell: .init(r: 58, g: 58, b: 66), missingText: .init(r: 175, g: 175, b: 182))
    }

    /// The most rows and the most columns drawn; more are left out.
    public static let maxCount = 64

    public var title: String?
    public var columnLabels: [String]
    public var rowLabels: [String]
    /// Rows of cells, top first; nil is a cell that has no image (a failed generation).
    public var cells: [[RGBImage?]]
    /// Each cell box is the largest cell times this (1...16; lowered when the picture would pass `Canvas.maxSide`).
    public var cellScale: Int
    /// Pixels between cells.
    public var gap: Int
    /// BitmapFont scale of all text.
    public var textScale: Int
    /// Written in a missing cell's box.
    public var missingText: String
    public var theme: Theme

    public init(title: String? = nil, columnLabels: [String], rowLabels: [String], cells: [[RGBImage?]],
                cellScale: Int = 1, gap: Int = 4, textScale: Int = 1, missingText: String = "failed", theme: Theme = .light) {
        self.title = title
        self.columnLabels = columnLabels
        self.rowLabels = rowLabels
        self.cells = cells
        self.cellScale = cellScale
        self.gap = gap
        self.textScale = textScale
        self.missingText = missingText
        self.theme = theme
    }

    /// Where everything goes.
    public struct Layout: Sendable, Equatable {
        public let width: Int
        public let height: Int
        public let rows: Int
        public let columns: Int
        /// The box every cell is fitted into.
        public let cellWidth: Int
        public let cellHeight: Int
        /// The scale actually used (`cellScale`, lowered if the picture would be too large).
        public let cellScale: Int
        /// Empty when there is no title.
        public let titleRect: PixelRect
        /// The wrapped title lines.
        public let titleLines: [String]
        /// Per column, the space above it for its label (zero height when no column has one).
        public let columnLabelRects: [PixelRect]
        /// Per row, the space left of it for its label (zero width when no row has one).
        public let rowLabelRects: [PixelRect]
        let margin: Int
        let gap: Int

        /// The box of cell (row, column); its image is fitted and centred inside it.
        public func cellRect(row: Int, column: Int) -> PixelRect {
            let x = margin + (rowLabelRects.first?.width ?? 0) + column * (cellWidth + gap)
            let y = titleRect.maxY + (columnLabelRects.first?.height ?? 0) + row * (cellHeight + gap)
            return PixelRect(x: x, y: y, width: cellWidth, height: cellHeight)
        }
    }

    /// The size and places of everything.
    public func layout() -> Layout {
        let s = BitmapFont.clampedScale(textScale)
        let line = BitmapFont.lineAdvance * s
        let gap = min(max(self.gap, 0), 256)
        let margin = max(gap * 2, 8)
        let rows = min(max(rowLabels.count, cells.count, 1), Self.maxCount)
        let columns = min(max(columnLabels.count, cells.prefix(rows).map(\.count).max() ?? 0, 1), Self.maxCount)
        let present = cells.prefix(rows).flatMap { $0.prefix(columns) }.compactMap { $0 }
        let baseWidth = present.map(\.width).max() ?? 64, baseHeight = present.map(\.height).max() ?? 64
        let hasRowLabels = rowLabels.prefix(rows).contains { !$0.isEmpty }
        let hasColumnLabels = columnLabels.prefix(columns).contains { !$0.isEmpty }

        var cellScale = min(max(self.cellScale, 1), 16)
        var cw = 0, ch = 0, rowLabelWidth = 0, width = 0
        while true {
            cw = min(baseWidth * cellScale, Canvas.maxSide)
            ch = min(baseHeight * cellScale, Canvas.maxSide)
            if hasRowLabels {
                let longest = rowLabels.prefix(rows).flatMap { $0.split(separator: "\n") }.map(\.count).max() ?? 0
                let cap = max(cw, BitmapFont.width(ofCharacters: 16, scale: s))
                rowLabelWidth = min(BitmapFont.width(ofCharacters: longest, scale: s), cap) + gap + 4
            }
            width = margin * 2 + rowLabelWidth + columns * cw + (columns - 1) * gap
            if width <= Canvas.maxSide || cellScale == 1 { break }
            cellScale -= 1
        }
        let titleLines = title.map { BitmapFont.wrap($0, maxWidth: width - margin * 2, scale: s, maxLines: 4) } ?? []
        let titleHeight = titleLines.isEmpty ? 0 : titleLines.count * line + gap
        let titleRect = PixelRect(x: margin, y: margin, width: titleLines.isEmpty ? 0 : width - margin * 2, height: titleHeight)
        let headerLines = hasColumnLabels
            ? columnLabels.prefix(columns).map { BitmapFont.wrap($0, maxWidth: cw, scale: s, maxLines: 4).count }.max() ?? 1 : 0
        let headerHeight = hasColumnLabels ? headerLines * line + gap : 0
        let gridTop = margin + titleHeight + headerHeight
        let height = gridTop + rows * ch + (rows - 1) * gap + margin
        let left = margin + rowLabelWidth
        return Layout(
            width: width, height: height, rows: rows, columns: columns, cellWidth: cw, cellHeight: ch, cellScale: cellScale,
            titleRect: titleRect, titleLines: titleLines,
            columnLabelRects: (0..<columns).map { PixelRect(x: left + $0 * (cw + gap), y: titleRect.maxY, width: cw, height: headerHeight) },
            rowLabelRects: (0..<rows).map { PixelRect(x: margin, y: gridTop + $0 * (ch + gap), width: rowLabelWidth, height: ch) },
            margin: margin, gap: gap)
    }

    /// The grid as one RGB picture.
    public func render() -> RGBImage {
        let layout = layout()
        let s = BitmapFont.clampedScale(textScale)
        let line = BitmapFont.lineAdvance * s, glyph = BitmapFont.glyphHeight * s
        var canvas = Canvas(width: layout.width, height: layout.height, background: theme.background)
        // Lines of text centred on each other, the block placed by `top`.
        func lines(_ texts: [String], centerX: Int, top: Int, _ color: Canvas.Color) {
            for (i, text) in texts.enumerated() { canvas.text(text, centerX: centerX, y: top + i * line, color, scale: s) }
        }
        func blockHeight(_ count: Int) -> Int { count > 0 ? (count - 1) * line + glyph : 0 }

        let title = layout.titleRect
        lines(layout.titleLines, centerX: title.x + title.width / 2, top: title.y, theme.text)
        for (column, rect) in layout.columnLabelRects.enumerated() where column < columnLabels.count && rect.height > 0 {
            let wrapped = BitmapFont.wrap(columnLabels[column], maxWidth: rect.width, scale: s, maxLines: 4)
            // Bottom-aligned: each label sits just above its column.
            lines(wrapped, centerX: rect.x + rect.width / 2, top: rect.maxY - layout.gap - blockHeight(wrapped.count), theme.text)
        }
        for (row, rect) in layout.rowLabelRects.enumerated() where row < rowLabels.count && rect.width > 0 {
            let textWidth = rect.width - layout.gap - 4
            let wrapped = BitmapFont.wrap(rowLabels[row], maxWidth: textWidth, scale: s, maxLines: max(1, (rect.height + line - glyph) / line))
            lines(wrapped, centerX: rect.x + textWidth / 2, top: rect.y + (rect.height - blockHeight(wrapped.count)) / 2, theme.text)
        }
        for row in 0..<layout.rows {
            for column in 0..<layout.columns {
                let rect = layout.cellRect(row: row, column: column)
                let cell = row < cells.count && column < cells[row].count ? cells[row][column] : nil
                if let cell {
                    canvas.draw(image: cell, into: rect)
                } else {
                    canvas.fill(rect, theme.missingCell)
                    let wrapped = BitmapFont.wrap(missingText, maxWidth: rect.width - 4, scale: s,
                                                  maxLines: max(1, (rect.height - 4 + line - glyph) / line))
                    lines(wrapped, centerX: rect.x + rect.width / 2, top: rect.y + (rect.height - blockHeight(wrapped.count)) / 2, theme.missingText)
                }
            }
        }
        return canvas.image
    }
}
