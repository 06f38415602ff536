import Foundation
import Imaging
import Terminal

/// Puts the studio on the terminal: the view through curses, then the image into its pane,
/// written around curses' back (sixel, kitty or half-blocks). Keeps what it last drew, so the
/// image is written only when it changed or something erased it, and live preview frames at most
/// once per 40 ms.
final class StudioRenderer {
    let pane: ImagePane
    /// What the pane shows, as last drawn: a new value redraws the image.
    private var drawnImage: ShownImage?
    /// The cells the drawn image covers.
    private var drawnPlacement: Rect?
    /// The image must be written again (something covered or erased it).
    private(set) var imageDirty = true
    private var lastImageWrite = Date.distantPast

    init(graphics: GraphicsMode, cellSize: PixelSize?) {
        pane = ImagePane(mode: graphics, cellSize: cellSize)
    }

    /// The image is to be written again on the next draw (the help overlay or the gallery came or
    /// went over it, the theme or the window size changed).
    func invalidate() {
        imageDirty = true
    }

    /// Draws `state`; `refreshed` runs once curses has put the text on screen, before the image
    /// bytes are written.
    func draw(_ state: StudioState, on screen: CursesScreen, refreshed: () -> Void) {
        let rect = StudioView().draw(state, on: screen)
        let shown = state.showHelp ? nil : state.shownImage
        if shown != drawnImage { imageDirty = true }
        var bytes: [UInt8] = []
        var placement: Rect?
        if let rect, imageDirty {
            if let shown {
                // At most one live frame per 40 ms: a fast sampler's previews would otherwise fill
                // the terminal's input faster than it can draw them, and keys would wait behind them.
                let isLivePreview = shown.step != nil && state.jobs.running && state.frameIndex == nil
                if Date().timeIntervalSince(lastImageWrite) >= 0.04 || !isLivePreview {
                    let image = RGBImage(shown.image)
                    placement = pane.placement(for: image, in: rect)
                    bytes = pane.bytes(for: image, in: rect)
                }
            } else {
                placement = Rect(row: rect.row, column: rect.column, rows: 0, columns: 0)
                bytes = pane.clearBytes()
            }
        }
        // A smaller image, or none, must not leave the old one's pixels behind: have curses
        // rewrite the rows it covered (curses' cells there are blank, so this erases them).
        if let placement, let last = drawnPlacement, placement != last {
            screen.touchRows(last.row, count: last.rows)
        }
        screen.refresh()
        refreshed()
        guard let placement else { return }
        imageDirty = false
        drawnImage = shown
        drawnPlacement = placement.rows > 0 ? placement : nil
        if !bytes.isEmpty {
            if shown != nil { lastImageWrite = Date() }
            TTY.write(bytes)
        }
    }
}
