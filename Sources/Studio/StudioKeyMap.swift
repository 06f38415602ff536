import Foundation
import Terminal

/// Keys -> changes of `StudioState` and effects, by one table (`bindings`) that the help overlay
/// is made from too. Typing goes to the focused editor; keys that are letters in a text field act
/// as commands only outside text fields.
public enum StudioKeyMap {
    /// Applies `key`; `editorWidth` is the prompt editors' text width (for up/down in wrapped text).
    public static func handle(_ key: Key, state: inout StudioState, editorWidth: Int) -> [StudioState.Effect] {
        if state.showHelp {
            if let binding = binding(for: key, in: [.help], state: state) { return binding.action(&state, key, editorWidth) }
            closeHelp(&state)
        }
        guard let binding = binding(for: key, state: state) else { return [] }
        return binding.action(&state, key, editorWidth)
    }

    /// The binding `handle` runs for `key` in `state` (help overlay not shown), if any.
    public static func binding(for key: Key, state: StudioState) -> KeyBinding? {
        binding(for: key, in: [.anywhere, KeyContext(state.focus)], state: state)
    }

    static func binding(for key: Key, in contexts: [KeyContext], state: StudioState) -> KeyBinding? {
        for context in contexts {
            if let binding = bindings.first(where: { $0.context == context && $0.matches(key) && $0.applies(state) }) {
                return binding
            }
        }
        return nil
    }

    /// One section of the help overlay.
    public struct HelpSection: Sendable {
        public var title: String
        public var lines: [(keys: String, summary: String)]
    }

    /// The help overlay's sections, from `bindings`: anywhere, the focused panel's, the other
    /// panels', the help's own.
    public static func help(focus: StudioState.Focus) -> [HelpSection] {
        let focused = KeyContext(focus)
        let order = [.anywhere, focused] + KeyContext.allCases.filter { $0 != .anywhere && $0 != focused && $0 != .help } + [.help]
        return order.map { context in
            HelpSection(title: context.title,
                        lines: bindings.filter { $0.context == context }.map { ($0.keysLabel, $0.summary) })
        }
    }

    // MARK: What the bindings do

    static func closeHelp(_ state: inout StudioState) {
        state.showHelp = false
        state.helpScroll = 0
    }

    static func typingInPanel(_ state: StudioState) -> Bool {
        state.focus == .parameters && state.panel.typing != nil
    }

    /// A list (the gallery, the LoRA list) has the keys: Enter, Esc and PgUp/PgDn are its own.
    static func inList(_ state: StudioState) -> Bool {
        state.focus == .gallery || state.focus == .loras
    }

    /// Runs `change` on the focused editor.
    static func editFocused(_ state: inout StudioState, _ change: (inout TextEditor) -> Void) -> [StudioState.Effect] {
        if state.focus == .negative { change(&state.negative) } else { change(&state.prompt) }
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

    /// The image pane's Up / Down: the previous generation's timeline, or the current one.
    static func viewGeneration(_ state: inout StudioState, previous: Bool) {
        guard state.previous != nil else {
            state.setStatus("No earlier generation this session.")
            return
        }
        state.viewingPrevious = previous
        state.frameIndex = nil
        state.opened = nil
    }

    /// Left/Right on the Model field: the previous/next of the bundled models (from the first when
    /// the loaded model is none of them), loaded as a path typed into the field would be.
    static func nextModel(_ state: inout StudioState, by direction: Int) -> [StudioState.Effect] {
        state.panel.typing = nil
        let choices = state.panel.modelChoices
        guard !choices.isEmpty else {
            state.setStatus("No bundled models to go through: type a model's path into the field and Enter.", .warning)
            return []
        }
        let current = URL(fileURLWithPath: state.panel.model.path).standardizedFileURL.path
        let index = choices.firstIndex { URL(fileURLWithPath: $0).standardizedFileURL.path == current }
        let next = index.map { (($0 + direction) % choices.count + choices.count) % choices.count } ?? 0
        guard choices.count > 1 || index == nil else {
            state.setStatus("\(state.panel.modelName) is the only bundled model.")
            return []
        }
        return [.loadModel(choices[next])]
    }

    /// Enter on a value typed into the parameter panel: applies it, or (the model field) loads it.
    static func applyTyped(_ state: inout StudioState) -> [StudioState.Effect] {
        if state.panel.selected == .model {
            let path = (state.panel.typing ?? "").trimmingCharacters(in: .whitespaces)
            state.panel.typing = nil
            return path.isEmpty ? [] : [.loadModel(path)]
        }
        if let problem = state.panel.applyTyped() { state.setStatus(problem, .error) }
        return []
    }

    /// Enter: the controls as a request (the generation controller queues it and says so).
    static func generate(_ state: inout StudioState) -> [StudioState.Effect] {
        let prompt = state.prompt.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !prompt.isEmpty else {
            state.setStatus("Type a prompt first.", .warning)
            return []
        }
        state.prompt.commitToHistory()
        state.negative.commitToHistory()
        return [.generate(state.panel.request(prompt: state.prompt.text, negative: state.negative.text))]
    }

    /// Tab's cycle: prompt, negative prompt, parameters, image (the gallery is entered with F2 or
    /// `g` and left with Tab, Esc or F2).
    static let tabOrder: [StudioState.Focus] = [.prompt, .negative, .parameters, .image]

    static func next(_ focus: StudioState.Focus, by step: Int) -> StudioState.Focus {
        guard let index = tabOrder.firstIndex(of: focus) else { return .prompt }
        return tabOrder[(index + step + tabOrder.count) % tabOrder.count]
    }
}
