import Diffusion
import Foundation
import Imaging

/// The keys that write what the pane shows into the output folder, with its parameters: Ctrl-S
/// (the image shown, an intermediate step too) and F4 / `e` (the viewed timeline as a contact sheet).
struct ImageExporter {
    let outputFolder: URL

    /// Ctrl-S: saves the image in the pane (an intermediate step too) with its parameters;
    /// `model` names the model where the image does not know its own.
    func saveShown(_ state: inout StudioState, model: ModelUse) {
        guard let shown = state.shownImage else {
            state.setStatus("Nothing to save yet.", .warning)
            return
        }
        guard let request = shown.request, let seed = shown.seed else {
            if case .file(let url) = shown.source { state.setStatus("\(url.lastPathComponent) is already saved.") }
            return
        }
        let made = shown.model ?? model
        var infotext = Infotext(request: request, seed: seed, width: shown.image.width,
                                height: shown.image.height, target: made.target, modelHash: made.hash.value,
                                version: ImageSaver.version)
        var suffix: String?
        if let step = shown.step {
            infotext["Step"] = "\(step)"
            infotext["Preview"] = state.latent == .denoised ? "denoised" : "noisy"
            suffix = "step\(step)" + (state.latent == .noisy ? "-noisy" : "")
        }
        do {
            let bytes = try ImageSaver.png(shown.image, parameters: infotext.text)
            let url = try OutputFolder(url: outputFolder).save(bytes, seed: seed, suffix: suffix)
            state.gallery.add(url)
            state.setStatus("Saved \(url.path)", .success)
        } catch {
            state.setStatus("Could not save: \(error)", .error)
        }
    }

    /// F4 / `e`: the viewed timeline as a contact-sheet PNG in the output folder.
    func exportTimeline(_ state: inout StudioState, model: ModelUse) {
        guard let timeline = state.viewedTimeline,
              let sheet = ContactSheet().render(timeline, latent: state.latent) else {
            state.setStatus("No timeline to export yet: generate an image first (with previews on).", .warning)
            return
        }
        let made = timeline.model ?? model
        let size = timeline.final.map { ($0.width, $0.height) } ?? timeline.request.size(for: made.target)
        var infotext = Infotext(request: timeline.request, seed: timeline.seed, width: size.0, height: size.1,
                                target: made.target, modelHash: made.hash.value, version: ImageSaver.version)
        infotext["Contact sheet"] = state.latent == .denoised ? "denoised" : "noisy"
        do {
            let bytes = try PNG.encode(sheet, texts: [PNGText(key: "parameters", value: infotext.text)])
            let url = try OutputFolder(url: outputFolder).save(bytes, seed: timeline.seed,
                                                               suffix: state.latent == .denoised ? "timeline" : "timeline-noisy")
            state.gallery.add(url)
            state.setStatus("Contact sheet saved: \(url.path)", .success)
        } catch {
            state.setStatus("Could not save the contact sheet: \(error)", .error)
        }
    }
}
