import Diffusion
import Terminal
import Testing
@testable import Studio

/// Keys as the issue asks: typing goes to the prompt, Enter generates, Esc cancels, Tab moves
/// focus, Ctrl-S saves, Ctrl-Q quits; pause and single step; the parameter panel's keys.
@Suite struct StudioKeyMapTests {
    static func type(_ text: String, into state: inout StudioState) {
        for character in text { _ = StudioKeyMap.handle(.character(character), state: &state, editorWidth: 40) }
    }

    @Test func typingGoesToThePromptAndEnterGenerates() {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        #expect(StudioKeyMap.handle(.enter, state: &state, editorWidth: 40).isEmpty)
        #expect(state.statusKind == .warning)
        Self.type("a red circle", into: &state)
        _ = StudioKeyMap.handle(.tab, state: &state, editorWidth: 40)
        Self.type("blurry", into: &state)
        #expect(state.prompt.text == "a red circle" && state.negative.text == "blurry")
        let effects = StudioKeyMap.handle(.enter, state: &state, editorWidth: 40)
        guard case .generate(let request)? = effects.first else {
            Issue.record("no generate effect: \(effects)")
            return
        }
        #expect(request.prompt == "a red circle" && request.negativePrompt == "blurry" && request.width == 64)
        #expect(state.prompt.history == ["a red circle"])
        // While one runs (as the generation controller reports it), Enter asks for another (the
        // controller queues it: GenerationControllerTests); Esc cancels; pause and single step.
        state.jobs = JobStatus(running: true)
        #expect(StudioKeyMap.handle(.enter, state: &state, editorWidth: 40).count == 1)
        #expect(StudioKeyMap.handle(.escape, state: &state, editorWidth: 40) == [.cancel])
        #expect(StudioKeyMap.handle(.ctrl("n"), state: &state, editorWidth: 40).isEmpty)
        #expect(StudioKeyMap.handle(.ctrl("p"), state: &state, editorWidth: 40) == [.pause])
        state.jobs = JobStatus(running: true, paused: true)  // the controller paused it
        #expect(StudioKeyMap.handle(.ctrl("n"), state: &state, editorWidth: 40) == [.stepOnce])
        #expect(StudioKeyMap.handle(.ctrl("p"), state: &state, editorWidth: 40) == [.resume])
        #expect(StudioKeyMap.handle(.ctrl("s"), state: &state, editorWidth: 40) == [.save])
        #expect(StudioKeyMap.handle(.ctrl("q"), state: &state, editorWidth: 40) == [.quit])
        #expect(StudioKeyMap.handle(.ctrl("c"), state: &state, editorWidth: 40) == [.quit])
        state.jobs = JobStatus()
        #expect(StudioKeyMap.handle(.escape, state: &state, editorWidth: 40).isEmpty)
    }

    @Test func focusCyclesAndParameterKeysChangeFields() {
        var state = StudioState(modelName: "m", width: 512, height: 512)
        _ = StudioKeyMap.handle(.backTab, state: &state, editorWidth: 40)
        #expect(state.focus == .image)
        _ = StudioKeyMap.handle(.backTab, state: &state, editorWidth: 40)
        #expect(state.focus == .parameters)
        _ = StudioKeyMap.handle(.right, state: &state, editorWidth: 40)
        #expect(state.panel.sampler == .ddim)
        _ = StudioKeyMap.handle(.down, state: &state, editorWidth: 40)  // schedule
        _ = StudioKeyMap.handle(.down, state: &state, editorWidth: 40)  // spacing
        _ = StudioKeyMap.handle(.down, state: &state, editorWidth: 40)  // steps
        Self.type("42", into: &state)
        #expect(state.panel.typing == "42" && state.panel.steps == 20)
        _ = StudioKeyMap.handle(.enter, state: &state, editorWidth: 40)
        #expect(state.panel.steps == 42 && state.panel.typing == nil)
        Self.type("x", into: &state)
        _ = StudioKeyMap.handle(.enter, state: &state, editorWidth: 40)
        #expect(state.statusKind == .error && state.panel.steps == 42)
        Self.type("?", into: &state)
        #expect(state.showHelp)
        _ = StudioKeyMap.handle(.escape, state: &state, editorWidth: 40)
        #expect(!state.showHelp)
        _ = StudioKeyMap.handle(.tab, state: &state, editorWidth: 40)
        #expect(state.focus == .image)
        _ = StudioKeyMap.handle(.tab, state: &state, editorWidth: 40)
        #expect(state.focus == .prompt)
        // In a text field `?` is text.
        Self.type("?", into: &state)
        #expect(state.prompt.text == "?" && !state.showHelp)
        _ = StudioKeyMap.handle(.function(1), state: &state, editorWidth: 40)
        #expect(state.showHelp)
    }

    @Test func editingKeysInThePrompt() {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        _ = StudioKeyMap.handle(.paste("a castle,\r\non a hill"), state: &state, editorWidth: 40)
        #expect(state.prompt.text == "a castle,\non a hill")
        _ = StudioKeyMap.handle(.ctrl("w"), state: &state, editorWidth: 40)
        _ = StudioKeyMap.handle(.newline, state: &state, editorWidth: 40)
        Self.type("sunset", into: &state)
        #expect(state.prompt.text == "a castle,\non a \nsunset")
        _ = StudioKeyMap.handle(.ctrl("u"), state: &state, editorWidth: 40)
        _ = StudioKeyMap.handle(.backspace, state: &state, editorWidth: 40)
        #expect(state.prompt.text == "a castle,\non a ")
    }

    /// Every key the studio can receive, for the checks below.
    static let everyKey: [Key] = [.enter, .newline, .escape, .tab, .backTab, .backspace, .delete, .up, .down, .left, .right,
                                  .wordLeft, .wordRight, .home, .end, .pageUp, .pageDown, .paste("x")]
        + "abcdefghijklmnopqrstuvwxyz".map { Key.ctrl($0) } + "abcdefghijklmnopqrstuvwxyz[]=+-".map { Key.alt($0) }
        + (1...12).map { Key.function($0) } + (32...126).map { Key.character(Character(Unicode.Scalar($0)!)) }

    /// The help is made from the table the keys are dispatched by: in every panel and state, a key
    /// that does something is listed, by its own name, in its context's section with what it does.
    @Test func everyDispatchedKeyIsInTheHelp() throws {
        for focus in StudioState.Focus.allCases {
            for running in [false, true] {
                for typing in [nil, "5"] as [String?] {
                    var state = StudioState(modelName: "m", width: 64, height: 64)
                    state.focus = focus
                    state.jobs = JobStatus(running: running)
                    state.panel.typing = focus == .parameters ? typing : nil
                    let help = StudioKeyMap.help(focus: focus)
                    for key in Self.everyKey {
                        guard let binding = StudioKeyMap.binding(for: key, state: state) else { continue }
                        let name: String = switch key {
                        case .character where !binding.matches(.character("\u{1}")): KeyBinding.label(key)
                        case .character: "text"
                        default: KeyBinding.label(key)
                        }
                        let section = try #require(help.first { $0.title == binding.context.title })
                        #expect(section.lines.contains { $0.keys.split(separator: " ").contains(Substring(name)) && $0.summary == binding.summary },
                                "\(key) in \(focus): \(name) not in \(section.title)")
                    }
                }
            }
        }
    }

    /// What the old hand-kept list missed: the gallery's j/k, PgUp/PgDn, Home/End and the editors'
    /// Ctrl-A/E, Alt-B/F; and the overlay shows every line of the table where there is room.
    @Test func theHelpOverlayListsEveryBinding() {
        for focus in [StudioState.Focus.gallery, .prompt] {
            let screen = HeadlessScreen(rows: 70, columns: 220)
            var state = StudioState(modelName: "m", width: 64, height: 64)
            state.focus = focus
            state.showHelp = true
            StudioView().draw(state, on: screen)
            let lines = StudioKeyMap.help(focus: focus).flatMap(\.lines)
            let keyWidth = lines.map(\.keys.count).max() ?? 0
            for line in lines {
                let text = line.keys.padding(toLength: keyWidth, withPad: " ", startingAt: 0) + "  " + line.summary
                #expect(screen.contains(text), "\(text) not shown:\n\(screen.text)")
            }
            #expect(!screen.contains("PgUp/PgDn: more"))
        }
        let gallery = StudioKeyMap.help(focus: .gallery).first { $0.title == "Gallery" }?.lines.map(\.keys) ?? []
        #expect(gallery.contains("Up k / Down j") && gallery.contains("PgUp / PgDn") && gallery.contains("Home / End"))
        let editors = StudioKeyMap.help(focus: .prompt).first { $0.title == "Prompt and negative prompt" }?.lines.map(\.keys) ?? []
        #expect(editors.contains("Home Ctrl-A") && editors.contains("End Ctrl-E"))
        #expect(editors.contains("Ctrl-Left Alt-B") && editors.contains("Ctrl-Right Alt-F"))
        // A small window shows the global keys first and scrolls to the focused panel's.
        let small = HeadlessScreen(rows: 24, columns: 80)
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.focus = .gallery
        state.showHelp = true
        StudioView().draw(state, on: small)
        #expect(small.contains("PgUp/PgDn: more") && small.contains("Ctrl-Q") && !small.contains("Up k / Down j"))
        #expect(StudioKeyMap.handle(.pageDown, state: &state, editorWidth: 40).isEmpty && state.showHelp)
        StudioView().draw(state, on: small)
        #expect(small.contains("Up k / Down j"), "\(small.text)")
        #expect(StudioKeyMap.handle(.character("j"), state: &state, editorWidth: 40) == [.showGalleryEntry])
        #expect(!state.showHelp && state.helpScroll == 0)
    }
}
