import Diffusion
import Foundation
import Terminal

/// Everything the studio shows, as plain values: the key map changes it, engine events change it,
/// the view draws it. No terminal, no threads: tests drive it directly.
public struct StudioState: Sendable {
    /// The panels Tab moves between.
    public enum Focus: CaseIterable, Sendable {
        case prompt, negative, parameters
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
    }

    public var prompt = TextEditor()
    public var negative = TextEditor()
    public var panel: ParameterPanel
    public var focus: Focus = .prompt
    public var modelName: String
    /// The last step of the running generation.
    public var progress: StepProgress?
    public var running = false
    public var paused = false
    /// Generations waiting behind the running one.
    public var queued = 0
    public var status = "Type a prompt, Enter to generate. ? or F1: keys."
    public var statusKind: StatusKind = .info
    public var showHelp = false

    public init(modelName: String, width: Int, height: Int) {
        self.modelName = modelName
        panel = ParameterPanel(width: width, height: height)
    }

    public mutating func setStatus(_ text: String, _ kind: StatusKind = .info) {
        status = text
        statusKind = kind
    }
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
        ("Ctrl-S", "save the image shown"),
        ("Ctrl-Q", "quit (cancels a run)"),
        ("Ctrl-P", "pause / resume"),
        ("Ctrl-N", "single step while paused"),
        ("Up / Down", "prompt history; fields in the parameter panel"),
        ("Left / Right", "move in text; change the selected parameter"),
        ("Ctrl-W / Ctrl-K / Ctrl-U", "delete word / to line end / to line start"),
        ("Ctrl-Left / Ctrl-Right", "move by word"),
        ("? or F1", "this help (outside text fields: ?)"),
    ]

    /// Applies `key`; `editorWidth` is the prompt editors' text width (for up/down in wrapped text).
    public static func handle(_ key: Key, state: inout StudioState, editorWidth: Int) -> [StudioState.Effect] {
        if state.showHelp {
            state.showHelp = false
            if key == .escape || key == .function(1) || key == .character("?") { return [] }
        }
        switch key {
        case .ctrl("q"): return [.quit]
        case .ctrl("s"): return [.save]
        case .function(1):
            state.showHelp = true
            return []
        case .escape:
            if state.focus == .parameters, state.panel.typing != nil {
                state.panel.typing = nil
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
            if state.focus == .parameters, state.panel.typing != nil {
                if let problem = state.panel.applyTyped() { state.setStatus(problem, .error) }
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
        }
        return []
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

    static func next(_ focus: StudioState.Focus, by step: Int) -> StudioState.Focus {
        let all = StudioState.Focus.allCases
        return all[(all.firstIndex(of: focus)! + step + all.count) % all.count]
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
