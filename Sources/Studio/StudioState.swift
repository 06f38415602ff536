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
    }

    public var prompt = TextEditor()
    public var negative = TextEditor()
    public var panel: ParameterPanel
    public var focus: Focus = .prompt
    public var modelName: String {
        get { panel.modelName }
        set { panel.modelName = newValue }
    }
    /// The last step of the running generation.
    public var progress: StepProgress?
    public var running = false
    public var paused = false
    /// Generations waiting behind the running one.
    public var queued = 0
    public var status = "Type a prompt, Enter to generate. ? or F1: keys."
    public var statusKind: StatusKind = .info
    public var showHelp = false

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
    /// An image opened from the gallery, shown in the pane until a timeline is looked at again.
    public var opened: (url: URL, image: PixelImage)?
    public var themeName: String

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
        if let opened, focus != .gallery || opened.url == gallery.selectedEntry?.url {
            return ShownImage(image: opened.image, request: nil, seed: nil, step: nil, source: .file(opened.url))
        }
        if focus == .gallery { return nil }  // the selection is still being read
        guard let timeline = viewedTimeline, let (image, step) = timeline.image(at: frameIndex, latent: latent) else { return nil }
        return ShownImage(image: image, request: timeline.request, seed: timeline.seed, step: step,
                          source: .timeline(latent: latent, total: timeline.frames.last?.total ?? timeline.request.steps),
                          model: timeline.model)
    }

    /// A new image's sampling began: its timeline becomes current, the current one previous.
    public mutating func beginTimeline(request: GenerationRequest, seed: UInt64, model: ModelUse? = nil) {
        if let current, !current.frames.isEmpty || current.final != nil { previous = current }
        current = Timeline(request: request, seed: seed, model: model)
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
            let warnings = entry.parameters.map { GenerationRequest.warnings(for: $0) } ?? []
            setStatus("Loaded the parameters of \(entry.name)" + (warnings.isEmpty ? "." : "; " + warnings.joined(separator: "; ")),
                      warnings.isEmpty ? .success : .warning)
        } catch {
            setStatus("\(entry.name): \(error)", .error)
        }
    }

    public mutating func setStatus(_ text: String, _ kind: StatusKind = .info) {
        status = text
        statusKind = kind
    }
}

/// The image in the pane and where it came from.
public struct ShownImage: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// A timeline frame (step nil: the final image) of `latent`, out of `total` steps.
        case timeline(latent: PreviewLatent, total: Int)
        /// A file opened from the gallery.
        case file(URL)
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


/// Keys -> changes of `StudioState` and effects. Typing goes to the focused editor; keys that
/// are letters in a text field act as commands only outside text fields.
public enum StudioKeyMap {
    /// The help overlay's lines: every key, grouped.
    public static let help: [(key: String, action: String)] = [
        ("Enter", "generate (queued while one runs)"),
        ("Alt-Enter", "new line in a prompt"),
        ("Esc", "cancel the running generation"),
        ("Tab / Shift-Tab", "next / previous panel"),
        ("Ctrl-S", "save the image shown (a step too)"),
        ("Ctrl-Q / Ctrl-C", "quit (cancels a run)"),
        ("Ctrl-P", "pause / resume"),
        ("Ctrl-N", "single step while paused"),
        ("Up / Down", "prompt history; fields in the parameter panel"),
        ("Left / Right", "move in text; change the selected parameter"),
        ("Ctrl-W / Ctrl-K / Ctrl-U", "delete word / to line end / to line start"),
        ("Ctrl-Left / Ctrl-Right", "move by word"),
        ("PgUp / PgDn", "timeline: previous / next step"),
        ("F2", "gallery"),
        ("F3", "timeline: denoised estimate / noisy latent"),
        ("F4", "export the timeline as a contact sheet"),
        ("F5", "next theme"),
        ("Image: Left Right [ ]", "previous / next step"),
        ("Image: Home End", "first step / latest"),
        ("Image: Up Down", "this / the last generation"),
        ("Image: d e", "denoised-noisy / contact sheet"),
        ("Gallery: Up Down Enter", "choose / open"),
        ("Gallery: l", "load its parameters into the controls"),
        ("t  (image, gallery)", "next theme"),
        ("? or F1", "this help (? outside text fields)"),
    ]

    /// Applies `key`; `editorWidth` is the prompt editors' text width (for up/down in wrapped text).
    public static func handle(_ key: Key, state: inout StudioState, editorWidth: Int) -> [StudioState.Effect] {
        if state.showHelp {
            state.showHelp = false
            if key == .escape || key == .function(1) || key == .character("?") { return [] }
        }
        switch key {
        case .ctrl("q"), .ctrl("c"): return [.quit]
        case .ctrl("s"): return [.save]
        case .function(1):
            state.showHelp = true
            return []
        case .function(2):
            return toggleGallery(&state)
        case .function(3):
            toggleLatent(&state)
            return []
        case .function(4):
            return [.exportTimeline]
        case .function(5):
            return [.nextTheme]
        case .pageUp where state.focus != .gallery:
            state.scrub(by: -1)
            return []
        case .pageDown where state.focus != .gallery:
            state.scrub(by: 1)
            return []
        case .escape:
            if state.focus == .parameters, state.panel.typing != nil {
                state.panel.typing = nil
                return []
            }
            if state.focus == .gallery, !state.running {
                state.focus = .prompt
                return []
            }
            return state.running ? [.cancel] : []
        case .ctrl("p"):
            guard state.running else { return [] }
            state.paused.toggle()
            return [state.paused ? .pause : .resume]
        case .ctrl("n"):
            return state.running && state.paused ? [.stepOnce] : []
        case .tab:
            state.focus = next(state.focus, by: 1)
            return []
        case .backTab:
            state.focus = next(state.focus, by: -1)
            return []
        case .enter:
            if state.focus == .parameters, let typed = state.panel.typing {
                if state.panel.selected == .model {
                    state.panel.typing = nil
                    let path = typed.trimmingCharacters(in: .whitespaces)
                    return path.isEmpty ? [] : [.loadModel(path)]
                }
                if let problem = state.panel.applyTyped() { state.setStatus(problem, .error) }
                return []
            }
            if state.focus == .gallery {
                // Open: keep the image shown and go back to the prompt.
                state.focus = .prompt
                return []
            }
            return generate(&state)
        default:
            break
        }
        switch state.focus {
        case .prompt: edit(&state.prompt, key: key, width: editorWidth)
        case .negative: edit(&state.negative, key: key, width: editorWidth)
        case .parameters: return parameters(key, state: &state)
        case .image: return image(key, state: &state)
        case .gallery: return gallery(key, state: &state)
        }
        return []
    }

    static func toggleGallery(_ state: inout StudioState) -> [StudioState.Effect] {
        if state.focus == .gallery {
            state.focus = .prompt
            return []
        }
        state.focus = .gallery
        return [.showGalleryEntry]
    }

    static func toggleLatent(_ state: inout StudioState) {
        state.latent = state.latent == .denoised ? .noisy : .denoised
        state.opened = nil
        state.setStatus(state.latent == .denoised ? "Timeline: the model's estimate of the clean image."
                                                  : "Timeline: the noisy latent the sampler holds.")
    }

    /// Keys with the image pane focused: the timeline.
    static func image(_ key: Key, state: inout StudioState) -> [StudioState.Effect] {
        switch key {
        case .left, .character("["): state.scrub(by: -1)
        case .right, .character("]"): state.scrub(by: 1)
        case .home: state.scrubToStart()
        case .end: state.scrubToEnd()
        case .up, .down:
            guard state.previous != nil else {
                state.setStatus("No earlier generation this session.")
                return []
            }
            state.viewingPrevious = key == .up
            state.frameIndex = nil
            state.opened = nil
        case .character("d"): toggleLatent(&state)
        case .character("e"): return [.exportTimeline]
        case .character("g"): return toggleGallery(&state)
        case .character("t"): return [.nextTheme]
        case .character("?"): state.showHelp = true
        default: break
        }
        return []
    }

    /// Keys with the gallery focused.
    static func gallery(_ key: Key, state: inout StudioState) -> [StudioState.Effect] {
        switch key {
        case .up, .character("k"): state.gallery.move(by: -1)
        case .down, .character("j"): state.gallery.move(by: 1)
        case .pageUp: state.gallery.move(by: -10)
        case .pageDown: state.gallery.move(by: 10)
        case .home: state.gallery.move(by: -state.gallery.entries.count)
        case .end: state.gallery.move(by: state.gallery.entries.count)
        case .character("l"):
            state.loadSelectedParameters()
            return []
        case .character("g"): return toggleGallery(&state)
        case .character("t"): return [.nextTheme]
        case .character("?"): state.showHelp = true
        default: return []
        }
        return [.showGalleryEntry]
    }

    static func generate(_ state: inout StudioState) -> [StudioState.Effect] {
        let prompt = state.prompt.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !prompt.isEmpty else {
            state.setStatus("Type a prompt first.", .warning)
            return []
        }
        state.prompt.commitToHistory()
        state.negative.commitToHistory()
        let request = state.panel.request(prompt: state.prompt.text, negative: state.negative.text)
        if state.running { state.queued += 1 }
        state.setStatus(state.running ? "Queued (\(state.queued) waiting)." : "Generating, seed \(request.seed ?? 0)...")
        return [.generate(request)]
    }

    /// Tab's cycle: prompt, negative prompt, parameters, image (the gallery is entered with F2 or
    /// `g` and left with Tab, Esc or F2).
    static let tabOrder: [StudioState.Focus] = [.prompt, .negative, .parameters, .image]

    static func next(_ focus: StudioState.Focus, by step: Int) -> StudioState.Focus {
        guard let index = tabOrder.firstIndex(of: focus) else { return .prompt }
        return tabOrder[(index + step + tabOrder.count) % tabOrder.count]
    }

    static func edit(_ editor: inout TextEditor, key: Key, width: Int) {
        switch key {
        case .character(let character): editor.insert(String(character))
        case .paste(let text): editor.insert(text)
        case .newline: editor.insert("\n")
        case .backspace: editor.deleteBackward()
        case .delete: editor.deleteForward()
        case .left: editor.moveLeft()
        case .right: editor.moveRight()
        case .wordLeft, .alt("b"): editor.moveWordLeft()
        case .wordRight, .alt("f"): editor.moveWordRight()
        case .home, .ctrl("a"): editor.moveToLineStart()
        case .end, .ctrl("e"): editor.moveToLineEnd()
        case .up: editor.moveUp(width: width)
        case .down: editor.moveDown(width: width)
        case .ctrl("w"): editor.deleteWordBackward()
        case .ctrl("k"): editor.deleteToLineEnd()
        case .ctrl("u"): editor.deleteToLineStart()
        default: break
        }
    }

    static func parameters(_ key: Key, state: inout StudioState) -> [StudioState.Effect] {
        switch key {
        case .up: state.panel.selectPrevious()
        case .down: state.panel.selectNext()
        case .left: state.panel.adjust(by: -1)
        case .right: state.panel.adjust(by: 1)
        case .backspace: state.panel.deleteTyped()
        case .character("?") where state.panel.typing == nil: state.showHelp = true
        case .character(let character): state.panel.type(character)
        case .paste(let text): text.forEach { state.panel.type($0) }
        default: break
        }
        return []
    }
}
