import Diffusion
import Foundation
import Imaging
import Terminal

extension StudioState {
    /// Reads the selected gallery image into the pane (the gallery's Up/Down, F2).
    mutating func openSelectedGalleryEntry() {
        guard let entry = gallery.selectedEntry else { return }
        if opened?.url == entry.url { return }
        do {
            let file = try PNG.read(path: entry.url.path)
            opened = (entry.url, PixelImage(file.image))
        } catch {
            opened = nil
            setStatus(error.description, .error)
        }
    }
}

/// F5 / `t`: the themes of the themes folder, in turn.
struct ThemeCycle {
    let folder: URL?

    /// The theme after the current one, loaded (nil when there is none, or it cannot be read: the
    /// status line says why); `state` takes its name.
    func next(_ state: inout StudioState) -> Theme? {
        guard let folder else { return nil }
        let names = Theme.available(in: folder)
        guard !names.isEmpty else { return nil }
        let next = names[((names.firstIndex(of: state.themeName) ?? -1) + 1) % names.count]
        do {
            let theme = try Theme.load(named: next, from: folder)
            state.themeName = next
            state.setStatus("Theme: \(next) (set theme = \"\(next)\" in \(StudioConfig.path) to keep it).")
            return theme
        } catch {
            state.setStatus("theme \(next): \(error.description)", .error)
            return nil
        }
    }
}
