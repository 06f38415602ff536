import Foundation
import Testing
@testable import Imaging

@Suite struct PlotTests {
    static let red = Canvas.Color(r: 230, g: 30, b: 30)
    static let blue = Canvas.Color(r: 30, g: 60, b: 240)
    static let rect = PixelRect(x: 10, y: 20, width: 400, height: 260)

    @Test func eachSeriesIsDrawnInItsColourInsideTheDataArea() {
        let rising = PlotSeries(name: "rising", color: Self.red, points: (0...100).map { (Double($0), Double($0)) }, markers: false)
        let falling = PlotSeries(name: "falling", color: Self.blue, points: (0...100).map { (Double($0), 100 - Double($0)) }, markers: false)
        let plot = Plot(series: [rising, falling], xTitle: "step", yTitle: "value", showsLegend: false)
        var canvas = Canvas(width: 440, height: 320)
        plot.draw(on: &canvas, in: Self.rect)
        let area = plot.layout(in: Self.rect).area
        #expect(area.width > 300 && area.height > 180)
        let reds = Drawn.pixels(canvas, equalTo: Self.red), blues = Drawn.pixels(canvas, equalTo: Self.blue)
        #expect(reds.count > 200 && blues.count > 200)
        #expect(reds.allSatisfy { area.contains(x: $0.x, y: $0.y) })
        #expect(blues.allSatisfy { area.contains(x: $0.x, y: $0.y) })
        // Rising goes from the bottom-left corner to the top-right one.
        #expect(Drawn.boundingBox(reds).map { abs($0.width - area.width) <= 2 && abs($0.height - area.height) <= 2 } == true)
        let layout = plot.layout(in: Self.rect)
        #expect(abs(layout.pixelX(0) - Double(area.x)) < 1e-9 && abs(layout.pixelY(0) - Double(area.maxY - 1)) < 1e-9)
        // Nothing is drawn outside the plot's rectangle.
        #expect(Drawn.ink(canvas).allSatisfy { Self.rect.contains(x: $0.x, y: $0.y) })
    }

    @Test func theCursorIsAtItsX() {
        let cursorColor = Canvas.Color(r: 255, g: 0, b: 255)
        let series = PlotSeries(name: "s", color: Self.red, points: [(0, 1), (1000, 0)])
        let plot = Plot(series: [series], cursor: PlotCursor(x: 250, label: "t=250", color: cursorColor))
        var canvas = Canvas(width: 440, height: 320)
        plot.draw(on: &canvas, in: Self.rect)
        let layout = plot.layout(in: Self.rect)
        let expected = Int(layout.pixelX(250).rounded())
        #expect(abs(Double(expected - layout.area.x) - 0.25 * Double(layout.area.width - 1)) <= 1)
        let magenta = Drawn.pixels(canvas, equalTo: cursorColor)
        let columns = Dictionary(grouping: magenta, by: \.x)
        let line = columns.max { $0.value.count < $1.value.count }
        #expect(line?.key == expected)
        #expect((line?.value.count ?? 0) > layout.area.height / 2)
    }

    @Test func logScaleSpacesDecadesEvenly() {
        let plot = Plot(series: [PlotSeries(name: "snr", color: Self.red, points: [(0, 1e-4), (1, 1e4)])], yScale: .log10)
        let layout = plot.layout(in: Self.rect)
        let rows = (-4...4).map { layout.pixelY(pow(10, Double($0))) }
        let steps = zip(rows, rows.dropFirst()).map { $0 - $1 }
        #expect(steps.allSatisfy { abs($0 - steps[0]) < 1e-6 && $0 > 0 })
        #expect(abs(rows[0] - Double(layout.area.maxY - 1)) < 1e-6 && abs(rows[8] - Double(layout.area.y)) < 1e-6)
        #expect(layout.pixelY(0).isNaN && layout.pixelY(-3).isNaN)
        #expect(plot.ticks(layout.yRange, scale: .log10, count: 9) == (-4...4).map { pow(10, Double($0)) })
    }

    @Test func badDataAndDegenerateRangesStillDraw() {
        let flat = PlotSeries(name: "flat", color: Self.red, points: [(5, 3), (5, 3)])
        let junk = PlotSeries(name: "junk", color: Self.blue, points: [(.nan, 1), (2, .infinity), (-.infinity, -.infinity)])
        let empty = PlotSeries(name: "", color: Self.blue, points: [])
        for scale in [PlotScale.linear, .log10] {
            for series in [[flat], [junk], [empty], [], [flat, junk, empty]] {
                for range in [nil, (lower: 1.0, upper: 1.0), (lower: .nan, upper: 2), (lower: -5, upper: -1)] as [(lower: Double, upper: Double)?] {
                    let plot = Plot(series: series, xRange: range, yRange: range, yScale: scale, title: "t", xTitle: "x", yTitle: "y",
                                    cursor: PlotCursor(x: .nan, label: "here"))
                    var canvas = Canvas(width: 200, height: 150)
                    plot.draw(on: &canvas, in: PixelRect(x: 0, y: 0, width: 200, height: 150))
                    let layout = plot.layout(in: PixelRect(x: 0, y: 0, width: 200, height: 150))
                    #expect(layout.xRange.upper > layout.xRange.lower && layout.yRange.upper > layout.yRange.lower)
                    #expect(!Drawn.pixels(canvas, equalTo: PlotTheme.dark.axis).isEmpty)
                }
            }
        }
        // The flat series' point is drawn (a marker) in the middle of its widened range.
        var canvas = Canvas(width: 200, height: 150)
        Plot(series: [flat]).draw(on: &canvas, in: canvas.bounds)
        #expect(!Drawn.pixels(canvas, equalTo: Self.red).isEmpty)
        // Tiny and far-off rectangles do not trap.
        for rect in [PixelRect(x: 0, y: 0, width: 3, height: 2), PixelRect(x: Int.min + 1, y: 0, width: Int.max, height: Int.max),
                     PixelRect(x: -1 << 40, y: -1 << 40, width: 1 << 41, height: 1 << 41), PixelRect(x: 5, y: 5, width: -4, height: 9)] {
            Plot(series: [flat], title: "title").draw(on: &canvas, in: rect)
        }
    }

    @Test func ticksAreRoundNumbersFormattedCompactly() {
        #expect(Plot.format(0) == "0")
        #expect(Plot.format(250) == "250")
        #expect(Plot.format(1000) == "1000")
        #expect(Plot.format(0.5) == "0.5")
        #expect(Plot.format(1e-4) == "1e-4")
        #expect(Plot.format(2.5e6) == "2.5e6")
        #expect(Plot.format(0.1 + 0.2) == "0.3")
        #expect(Plot.format(-0.00001) == "-1e-5")
        #expect(Plot.format(9.999e5) == "1e6")
        #expect(Plot.format(5e-324) == "4.94e-324")
        #expect(Plot.format(-1.7e308) == "-1.7e308")
        #expect(Plot.format(.nan) == "nan")
        let plot = Plot()
        #expect(plot.ticks((0, 1000), scale: .linear, count: 4) == [0, 250, 500, 750, 1000])
        #expect(plot.ticks((1, 1e6), scale: .log10, count: 4) == [1, 100, 1e4, 1e6])
        #expect(plot.ticks((2, 9), scale: .log10, count: 5) == [2, 9])
        #expect(plot.ticks((0, 1), scale: .linear, count: 5) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        #expect(plot.ticks((-1e308, 1e308), scale: .linear, count: 5).count <= 50)
    }

    @Test func theLegendNamesEachSeriesInItsColour() {
        let a = PlotSeries(name: "alpha bar", color: Self.red, points: [(0, 0), (1, 1)])
        let b = PlotSeries(name: "SNR", color: Self.blue, points: [(0, 1), (1, 0)], dashed: true)
        var canvas = Canvas(width: 440, height: 320)
        Plot(series: [a, b]).draw(on: &canvas, in: Self.rect)
        let area = Plot(series: [a, b]).layout(in: Self.rect).area
        // The legend sits in the top-right corner of the data area.
        let corner = PixelRect(x: area.maxX - 110, y: area.y, width: 110, height: 40)
        #expect(Drawn.pixels(canvas, in: corner, equalTo: Self.red).count >= 10)
        #expect(Drawn.pixels(canvas, in: corner, equalTo: Self.blue).count >= 6)
        #expect(Drawn.pixels(canvas, in: corner, equalTo: PlotTheme.dark.text).count > 40)
    }
}
