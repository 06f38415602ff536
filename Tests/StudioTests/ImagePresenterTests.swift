import Imaging
import Terminal
import Testing
@testable import Studio

@Suite struct ImagePresenterTests {
    let image = RGBImage(width: 400, height: 300, fill: (200, 100, 50))
    let presenter = ImagePresenter()

    @Test func pixelFormatsKeepTheirOwnSizeByDefault() {
        let target = ImagePresenter.Target(mode: .sixel)
        let shown = presenter.pixelImage(image, on: target)
        #expect((shown.width, shown.height) == (400, 300))
    }

    @Test func pixelFormatsScaleToColumnsOfCells() {
        let target = ImagePresenter.Target(mode: .sixel, columns: 20, cellSize: PixelSize(width: 9, height: 18))
        let shown = presenter.pixelImage(image, on: target)
        #expect((shown.width, shown.height) == (180, 135))
    }

    @Test func pixelFormatsShrinkToAWindowButNeverOntoItsLastRow() {
        let target = ImagePresenter.Target(mode: .kitty, window: (columns: 100, rows: 11), cellSize: PixelSize(width: 8, height: 16))
        let shown = presenter.pixelImage(image, on: target)
        #expect(shown.height == 160)  // 10 rows of 16 px
        #expect(shown.width == 213)
        let roomy = ImagePresenter.Target(mode: .kitty, window: (columns: 200, rows: 60), cellSize: PixelSize(width: 8, height: 16))
        #expect(presenter.pixelImage(image, on: roomy).width == 400)  // never enlarged to fill
    }

    @Test func halfBlocksFillTheColumnsAskedForOrFitTheWindow() {
        #expect(presenter.halfBlockColumns(image, on: .init(mode: .truecolor, columns: 33)) == 33)
        // 400x300 in 60x20 cells: 20 rows hold 40 pixel rows -> 53 columns (minus the last row: 19 rows -> 50).
        let fitted = presenter.halfBlockColumns(image, on: .init(mode: .truecolor, window: (columns: 60, rows: 20)))
        #expect(HalfBlockEncoder.rows(forWidth: 400, height: 300, columns: fitted) <= 19)
        #expect(HalfBlockEncoder.rows(forWidth: 400, height: 300, columns: fitted + 1) > 19)
        #expect(presenter.halfBlockColumns(image, on: .init(mode: .color256)) == ImagePresenter.defaultColumns)
    }

    @Test func noGraphicsIsAClearError() {
        #expect(throws: ImagePresenter.Problem.self) { try presenter.render(image, on: .init(mode: .none)) }
    }
}
