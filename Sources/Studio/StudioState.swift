import Diffusion
import Foundation
import Terminal

/// Everything the studio shows, as plain values: the key map changes it, engine events change it,
/// the view draws it. No terminal, no threads: tests drive it directly.
public struct StudioState: Sendable {
    /// The panels Tab moves between.
    public enum Focus: CaseIterable, Sendable {
        /// The prompt and negative prompt editors.
        case prompt, negative
        /// The parameter panel.
        case parameters
        /// The image pane: scrub the timeline.
        case image
        /// The gallery list (it takes the left column while focused).
        case gallery
        /// The LoRA list (F7; it takes the place of the negative prompt and the parameters).
        case loras
        /// The X/Y grid's line (F11; it takes the place of the negative prompt and the parameters).
        case grid
    }

    /// How a status message reads.
    public enum StatusKind: Sendable {
        case info, success, warning, error
    }

    /// What the studio must do beyond changing this state.
    public enum Effect: Equatable, Sendable {
        case generate(GenerationRequest)
        case cancel
        case pause
        case resume
        case stepOnce
        case save
        case quit
        /// Write the shown timeline as a contact-sheet PNG.
        case exportTimeline
        /// Show the selected gallery entry's image (the app reads the file).
        case showGalleryEntry
        case nextTheme
        /// Load the model at this path (a diffusers folder or a .safetensors file) and use it next.
        case loadModel(String)
        /// The forward view on this image (its description for the title).
        case openForward(PixelImage, String)
        /// The forward view on the image file at this path (the init image).
        case openForwardFile(String)
        /// Decode the forward view's x_t at this timestep index.
        case forwardAt(Int)
        /// Run this X/Y grid from this base request.
        case runGrid(GridPlan, GenerationRequest)
        /// Stop the running grid.
        case cancelGrid
    }

    public var prompt = TextEditor()
    public var negative = TextEditor()
    public var panel: ParameterPanel
    public var focus: Focus = .prompt
    public var modelName: String {
        get { panel.modelName }
        set { panel.modelName = newValue }
    }
    /// The submitted generations: written only by `GenerationController` (from its own jobs),
    /// read by the key map and the view.
    public internal(set) var jobs = JobStatus()
    public var status = "Type a prompt, Enter to generate. ? or F1: keys."
    public var statusKind: StatusKind = .info
    public var showHelp = false
    /// Whether the prompt's parse (F8: which text applies at which step) is shown below the prompt.
    public var showPromptParse = false
    /// Lines of the help overlay scrolled past (where it does not fit the window).
    public var helpScroll = 0

    /// The running (or latest) generation's timeline, and the one before it.
    public var current: Timeline?
    public var previous: Timeline?
    /// Whether the pane shows `previous` instead of `current`.
    public var viewingPrevious = false
    /// The frame shown; nil follows the newest step (and the final image once there is one).
    public var frameIndex: Int?
    /// Which latent the timeline shows.
    public var latent: PreviewLatent = .denoised
    public var gallery: Gallery
    /// The LoRA folder's files as last listed (F7).
    public var loras: LoraList?
    /// An image opened from the gallery, shown in the pane until a timeline is looked at again.
    public var opened: (url: URL, image: PixelImage)?
    public var themeName: String
    /// What the image pane shows (F9 forward, F10 trajectory, F11 grid; the timeline otherwise).
    public var pane: Pane = .timeline
    /// The forward view's image, timestep and newest frame (F9).
    public var forward: ForwardView?
    /// The X/Y grid running or run last (F11).
    public var grid: GridView?
    /// The grid's axes as typed: `steps=5,10,20 | cfg=1,3,7`.
    public var gridLine = TextEditor()

    public init(modelName: String, width: Int, height: Int, gallery: Gallery = Gallery(folder: URL(fileURLWithPath: "outputs")),
                themeName: String = "dark") {
        panel = ParameterPanel(width: width, height: height)
        panel.modelName = modelName
        self.gallery = gallery
        self.themeName = themeName
        prompt.setHistory(gallery.promptHistory)
        negative.setHistory(gallery.negativeHistory)
    }

    /// The timeline the pane is on.
    public var viewedTimeline: Timeline? { viewingPrevious ? previous : current }

    /// What the image pane shows: the gallery's selection while the gallery has focus (when
    /// loaded), an opened gallery image, else the viewed timeline at the scrubbed frame.
    public var shownImage: ShownImage? {
        if focus != .gallery, let picture = panePicture { return picture }
        if let opened, focus != .gallery || opened.url == gallery.selectedEntry?.url {
            return ShownImage(image: opened.image, request: nil, seed: nil, step: nil, source: .file(opened.url))
        }
        if focus == .gallery { return nil }  // the selection is still being read
        guard let timeline = viewedTimeline, let (image, step) = timeline.image(at: frameIndex, latent: latent) else { return nil }
        return ShownImage(image: image, request: timeline.request, seed: timeline.seed, step: step,
                          source: .timeline(latent: latent, total: timeline.frames.last?.total ?? timeline.request.steps),
                          model: timeline.model)
    }

    /// The pane view's picture (forward, trajectory or grid), nil on the timeline or before it has one.
    var panePicture: ShownImage? {
        guard let title = paneTitle else { return nil }
        switch pane {
        case .timeline:
            return nil
        case .forward:
            guard let picture = forward?.picture else { return nil }
            return ShownImage(image: picture, request: nil, seed: nil, step: nil, source: .picture(title))
        case .trajectory:
            guard let timeline = viewedTimeline, let picture = PanePictures.trajectory(timeline, frameIndex: frameIndex) else { return nil }
            return ShownImage(image: picture, request: timeline.request, seed: timeline.seed, step: nil, source: .picture(title),
                              model: timeline.model)
        case .grid:
            guard let picture = grid?.picture else { return nil }
            return ShownImage(image: picture, request: nil, seed: nil, step: nil, source: .picture(title))
        }
    }

    /// The pane view's title, nil exactly when it has no picture; computed without composing the
    /// picture (the view's frame title asks for it on every draw, the renderer for the picture).
    public var paneTitle: String? {
        switch pane {
        case .timeline:
            return nil
        case .forward:
            guard let forward, forward.picture != nil, let frame = forward.frame else { return nil }
            let abar = forward.process.curve.signal[min(frame.t, forward.process.count - 1)]
            return String(format: "Forward q(x_t|x_0) \u{00B7} %@ \u{00B7} t %d/%d \u{00B7} abar %.3g \u{00B7} SNR %.3g (%@)", forward.source,
                          frame.t, forward.process.count - 1, abar, abar / max(1 - abar, 1e-300), forward.process.curve.name)
        case .trajectory:
            guard let timeline = viewedTimeline, timeline.frames.contains(where: { $0.trajectory != nil }) else { return nil }
            let straight = timeline.straightness.map { String(format: " \u{00B7} straightness %.2f", $0) } ?? ""
            return "Trajectory \u{00B7} \(timeline.frames.count) steps" + straight
        case .grid:
            guard let grid, grid.picture != nil else { return nil }
            let state = grid.finished ? (grid.cancelled ? "cancelled" : grid.saved.map { "saved \($0.lastPathComponent)" } ?? "done")
                : "cell \(grid.done + 1) of \(grid.cells.count)"
            return "X/Y grid \u{00B7} \(grid.plan.summary) \u{00B7} \(state)"
        }
    }

    /// A new image's sampling began: its timeline becomes current, the current one previous.
    public mutating func beginTimeline(request: GenerationRequest, seed: UInt64, model: ModelUse? = nil) {
        if let current, !current.frames.isEmpty || current.final != nil { previous = current }
        current = Timeline(request: request, seed: seed, model: model)
        if pane == .forward { pane = .timeline }  // the new generation is what to watch
        viewingPrevious = false
        frameIndex = nil
        opened = nil
    }

    /// Moves the scrub position by `step` frames (stopping at the ends); moving past the newest
    /// frame returns to following it.
    public mutating func scrub(by step: Int) {
        opened = nil
        guard let timeline = viewedTimeline, !timeline.frames.isEmpty else { return }
        let last = timeline.frames.count - 1
        let position = frameIndex ?? (timeline.final != nil ? last + 1 : last)
        let next = position + step
        if next > last {
            frameIndex = nil
        } else {
            frameIndex = max(0, next)
        }
    }

    public mutating func scrubToStart() {
        opened = nil
        if viewedTimeline?.frames.isEmpty == false { frameIndex = 0 }
    }

    public mutating func scrubToEnd() {
        opened = nil
        frameIndex = nil
    }

    /// The selected gallery image's prompt, negative prompt and settings into the controls (seed
    /// locked to its seed), focus back on the prompt: A1111's PNG Info -> txt2img.
    public mutating func loadSelectedParameters() {
        guard let entry = gallery.selectedEntry else { return }
        do {
            let request = try entry.request()
            prompt.text = request.prompt
            negative.text = request.negativePrompt
            panel.load(request)
            focus = .prompt
            let warnings = entry.notes + (entry.parameters.map { GenerationRequest.warnings(for: $0) } ?? [])
            setStatus("Loaded the parameters of \(entry.name)" + (warnings.isEmpty ? "." : "; " + warnings.joined(separator: "; ")),
                      warnings.isEmpty ? .success : .warning)
        } catch {
            setStatus("\(entry.name): \(error)", .error)
        }
    }

    // MARK: The few-step preset and LoRAs

    /// The few-step key: the preset for the loaded model into the panel, or (again) the settings
    /// it replaced back (`ParameterPanel.toggleFewStepPreset`); the status says which and what.
    public mutating func toggleFewStepPreset() {
        switch panel.toggleFewStepPreset(prompt: prompt.text) {
        case .applied(let preset):
            let line = "Few-step preset, \(preset.summary). F6 again: back."
            if let note = preset.note {
                setStatus(line + " " + note.prefix(1).uppercased() + note.dropFirst() + (preset.kind == .lcmLoRA ? " (F7)." : "."), .warning)
            } else {
                setStatus(line, .success)
            }
        case .restored(let before):
            setStatus("Few-step preset off, back to \(before.sampler.rawValue), \(before.steps) steps, CFG "
                      + panel.value(.cfg) + ", previews \(before.preview.rawValue), decoder \(before.decoder.rawValue).")
        }
    }

    /// F7: lists the LoRA folder and focuses the list (the choice kept by name when listed again),
    /// or closes the list; no folder or no files: the status says so.
    public mutating func toggleLoraList() {
        if focus == .loras {
            focus = .prompt
            return
        }
        switch LoraList.load(folder: panel.loraFolder) {
        case .success(var list):
            if let chosen = loras?.selectedEntry?.name, let index = list.entries.firstIndex(where: { $0.name == chosen }) {
                list.selected = index
            }
            loras = list
            focus = .loras
            setStatus("\(list.entries.count) LoRA\(list.entries.count == 1 ? "" : "s"): Enter puts <lora:NAME:1> at the prompt's cursor, Esc goes back.")
        case .failure(let problem): setStatus(sentence: problem.description, .warning)
        }
    }

    /// Enter in the LoRA list: the chosen file's tag at the prompt's cursor, back to the prompt.
    public mutating func insertChosenLora() {
        guard let list = loras, let entry = list.selectedEntry else { return }
        let file = URL(fileURLWithPath: list.folder).appendingPathComponent(entry.path).path
        guard entry.fitsInTag, FileManager.default.fileExists(atPath: file) else {
            setStatus("\(entry.shownName) cannot be named in a <lora:...> tag (: < >, control characters or spaces at its ends); "
                      + "rename the file.", .error)
            return
        }
        prompt.insertLoraTag(name: entry.name)
        focus = .prompt
        setStatus("Added \(LoraTag.text(name: entry.name, weight: 1)); Alt-= / Alt-- change its weight.", .success)
    }

    /// Alt-= / Alt--: the weight of the LoRA tag at the focused editor's cursor, by `delta`.
    public mutating func adjustLoraWeight(by delta: Double) {
        let result = focus == .negative ? negative.adjustLoraWeight(by: delta) : prompt.adjustLoraWeight(by: delta)
        switch result {
        case .success(let tag): setStatus("\(tag.name): weight \(LoraTag.format(tag.weight ?? 1)).")
        case .failure(let problem): setStatus(sentence: problem.description, .warning)
        }
    }

    public mutating func setStatus(_ text: String, _ kind: StatusKind = .info) {
        status = text
        statusKind = kind
    }

    /// A one-line message (as errors word them) as a sentence: capital first, full stop last.
    mutating func setStatus(sentence text: String, _ kind: StatusKind) {
        setStatus(text.prefix(1).uppercased() + text.dropFirst() + (text.hasSuffix(".") ? "" : "."), kind)
    }
}

/// The image in the pane and where it came from.
public struct ShownImage: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// A timeline frame (step nil: the final image) of `latent`, out of `total` steps.
        case timeline(latent: PreviewLatent, total: Int)
        /// A file opened from the gallery.
        case file(URL)
        /// A pane view's picture (forward, trajectory, grid), with its title.
        case picture(String)
    }

    public var image: PixelImage
    /// The settings that made it (timeline images).
    public var request: GenerationRequest?
    public var seed: UInt64?
    /// The step of an intermediate frame; nil for a final image.
    public var step: Int?
    public var source: Source
    /// The model that made it (timeline images, where known).
    public var model: ModelUse?
}
