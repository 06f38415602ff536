import Foundation
import Testing
@testable import Imaging

@Suite struct LabelledGridTests {
    /// A cell of one colour, distinct per (row, column).
    static func cell(_ row: Int, _ column: Int, width: Int = 8, height: Int = 8) -> RGBImage {
        RGBImage(width: width, height: height, fill: (UInt8(40 + row * 15), UInt8(30 + column * 15), 200))
    }

    static func grid(rows: Int, columns: Int, title: String? = "CFG x steps") -> LabelledGrid {
        LabelledGrid(title: title, columnLabels: (0..<columns).map { "CFG: \($0 + 1)" }, rowLabels: (0..<rows).map { "steps \($0 * 10)" },
                     cells: (0..<rows).map { r in (0..<columns).map { c in cell(r, c) } }, cellScale: 2)
    }

    @Test func theSizeIsTheLayoutsAndEachCellIsAtItsPlace() {
        for (rows, columns) in [(1, 1), (1, 5), (5, 1), (3, 4), (12, 12)] {
            let grid = Self.grid(rows: rows, columns: columns)
            let layout = grid.layout()
            let image = grid.render()
            #expect(image.width == layout.width && image.height == layout.height)
            #expect(layout.cellWidth == 16 && layout.cellHeight == 16)
            let canvas = Canvas(image: image)
            for r in 0..<rows {
                for c in 0..<columns {
                    let rect = layout.cellRect(row: r, column: c)
                    let expected = Canvas.Color(r: UInt8(40 + r * 15), g: UInt8(30 + c * 15), b: 200)
                    #expect(Drawn.pixels(canvas, in: rect, equalTo: expected).count == 256, "cell \(r), \(c)")
                }
            }
            // Cells do not overlap and keep the gap.
            if columns > 1 {
                #expect(layout.cellRect(row: 0, column: 1).x - layout.cellRect(row: 0, column: 0).maxX == grid.gap)
            }
            #expect(layout.cellRect(row: rows - 1, column: columns - 1).maxX <= layout.width)
            #expect(layout.cellRect(row: rows - 1, column: columns - 1).maxY <= layout.height)
        }
    }

    @Test func labelsAndTitleAreDrawnInTheTextColour() {
        let grid = Self.grid(rows: 3, columns: 3)
        let layout = grid.layout()
        let canvas = Canvas(image: grid.render())
        let text = LabelledGrid.Theme.light.text
        #expect(Drawn.pixels(canvas, in: layout.titleRect, equalTo: text).count > 30)
        for rect in layout.columnLabelRects + layout.rowLabelRects {
            #expect(Drawn.pixels(canvas, in: rect, equalTo: text).count > 20, "\(rect)")
        }
        // The text is centred over its column: as much ink left of the middle as right (within a glyph).
        let column = layout.columnLabelRects[1]
        let ink = Drawn.pixels(canvas, in: column, equalTo: text)
        let box = Drawn.boundingBox(ink)
        #expect(box.map { abs(($0.x + $0.maxX) - (column.x + column.maxX)) <= 2 } == true)
    }

    @Test func missingCellsAreNeutralBoxesSayingWhy() {
        var grid = Self.grid(rows: 2, columns: 2)
        grid.cells[1][0] = nil
        grid.cells[0].removeLast()  // a short row: also missing
        let layout = grid.layout()
        let canvas = Canvas(image: grid.render())
        for (r, c) in [(1, 0), (0, 1)] {
            let rect = layout.cellRect(row: r, column: c)
            #expect(Drawn.pixels(canvas, in: rect, equalTo: LabelledGrid.Theme.light.missingCell).count > 100)
            #expect(Drawn.pixels(canvas, in: rect, equalTo: LabelledGrid.Theme.light.missingText).count > 10)
        }
        let allMissing = LabelledGrid(columnLabels: ["a"], rowLabels: [], cells: [[nil]])
        #expect(allMissing.layout().cellWidth == 64)
        _ = allMissing.render()
    }

    @Test func cellsOfDifferentSizesFitTheLargestBox() {
        let grid = LabelledGrid(columnLabels: ["small", "large"], rowLabels: ["r"],
                                cells: [[Self.cell(0, 0, width: 4, height: 2), Self.cell(0, 1, width: 8, height: 8)]], cellScale: 3)
        let layout = grid.layout()
        #expect(layout.cellWidth == 24 && layout.cellHeight == 24)
        let canvas = Canvas(image: grid.render())
        let small = Drawn.pixels(canvas, in: layout.cellRect(row: 0, column: 0), equalTo: .init(r: 40, g: 30, b: 200))
        #expect(Drawn.boundingBox(small)?.width == 24 && Drawn.boundingBox(small)?.height == 12)
    }

    @Test func oddInputsDoNotTrap() {
        let huge = RGBImage(width: 2000, height: 10, fill: (1, 2, 3))
        let grids = [
            LabelledGrid(columnLabels: [], rowLabels: [], cells: []),
            LabelledGrid(title: String(repeating: "long title ", count: 200), columnLabels: [String(repeating: "w", count: 500)],
                         rowLabels: ["é\n\n\nx", String(repeating: "row ", count: 300)], cells: [[huge], [nil, nil, nil]],
                         cellScale: 99, gap: -3, textScale: 0, missingText: ""),
            LabelledGrid(columnLabels: (0..<100).map(String.init), rowLabels: [], cells: [], cellScale: Int.min, gap: Int.max, textScale: Int.max),
        ]
        for grid in grids {
            let image = grid.render()
            #expect(image.width <= Canvas.maxSide && image.height <= Canvas.maxSide)
        }
    }

    /// Writes a sample grid and a sample plot to /tmp for a person to look at
    /// (STIPPLE_SAMPLE_PNGS=1 swift test --filter LabelledGridTests).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STIPPLE_SAMPLE_PNGS"] != nil))
    func writeSamples() throws {
        func disc(_ r: Int, _ c: Int) -> RGBImage {
            var canvas = Canvas(width: 64, height: 64, background: .init(r: 30, g: 30, b: 30))
            canvas.fillCircle(centerX: 32, centerY: 32, radius: Double(8 + 4 * c), .init(r: UInt8(100 + 40 * r), g: 200, b: 90))
            return canvas.image
        }
        for theme in [("light", LabelledGrid.Theme.light), ("dark", LabelledGrid.Theme.dark)] {
            var grid = LabelledGrid(title: "shapes-64, prompt: a green circle on a black background, seed 7 (X: CFG scale, Y: sampler)",
                                    columnLabels: ["CFG: 2", "CFG: 3", "CFG: 5", "CFG: 7.5 with a long label"],
                                    rowLabels: ["euler a", "dpm++ 2m karras", "lcm"],
                                    cells: (0..<3).map { r in (0..<4).map { c in disc(r, c) } }, cellScale: 2, theme: theme.1)
            grid.cells[2][3] = nil
            try Data(PNG.encode(grid.render())).write(to: URL(fileURLWithPath: "/tmp/stipple-grid-\(theme.0).png"))
        }
        let steps = (0...1000).map(Double.init)
        let alphaBar = steps.map { (x: $0, y: pow(cos(($0 / 1000 + 0.008) / 1.008 * Double.pi / 2), 2)) }
        let snr = alphaBar.map { (x: $0.x, y: $0.y / (1 - $0.y)) }
        for (name, theme) in [("dark", PlotTheme.dark), ("light", PlotTheme.light)] {
            var canvas = Canvas(width: 640, height: 300, background: theme.background)
            let left = Plot(series: [PlotSeries(name: "alpha bar", color: theme.palette[0], points: alphaBar),
                                     PlotSeries(name: "linear", color: theme.palette[1], points: steps.map { ($0, 1 - $0 / 1000) }, dashed: true)],
                            title: "cosine schedule", xTitle: "timestep", yTitle: "alpha bar",
                            cursor: PlotCursor(x: 250, label: "t=250"), theme: theme)
            left.draw(on: &canvas, in: PixelRect(x: 0, y: 0, width: 320, height: 300))
            let right = Plot(series: [PlotSeries(name: "SNR", color: theme.palette[2], points: snr),
                                      PlotSeries(name: "steps", color: theme.palette[3], points: [(0, 100), (250, 3), (500, 1), (750, 0.2), (999, 1e-3)])],
                             yScale: .log10, title: "signal to noise", xTitle: "timestep", yTitle: "SNR (log)", cursor: PlotCursor(x: 900), theme: theme)
            right.draw(on: &canvas, in: PixelRect(x: 320, y: 0, width: 320, height: 300))
            try Data(PNG.encode(canvas.image)).write(to: URL(fileURLWithPath: "/tmp/stipple-plot-\(name).png"))
        }
        var font = Canvas(width: 600, height: 70, background: .init(r: 255, g: 255, b: 255))
        let all = String((32...126).map { Character(Unicode.Scalar(UInt8($0))) })
        font.text(String(all.prefix(48)) + "\n" + String(all.dropFirst(48)) + "\nnon-ASCII: é ✓", x: 4, y: 4, .init(r: 0, g: 0, b: 0), scale: 2)
        try Data(PNG.encode(font.image)).write(to: URL(fileURLWithPath: "/tmp/stipple-font.png"))
    }
}
