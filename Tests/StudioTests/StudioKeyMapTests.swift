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
        // While one runs, Enter queues another; Esc cancels; pause and single step.
        state.running = true
        _ = StudioKeyMap.handle(.enter, state: &state, editorWidth: 40)
        #expect(state.queued == 1)
        #expect(StudioKeyMap.handle(.escape, state: &state, editorWidth: 40) == [.cancel])
        #expect(StudioKeyMap.handle(.ctrl("n"), state: &state, editorWidth: 40).isEmpty)
        #expect(StudioKeyMap.handle(.ctrl("p"), state: &state, editorWidth: 40) == [.pause])
        #expect(StudioKeyMap.handle(.ctrl("n"), state: &state, editorWidth: 40) == [.stepOnce])
        #expect(StudioKeyMap.handle(.ctrl("p"), state: &state, editorWidth: 40) == [.resume])
        #expect(StudioKeyMap.handle(.ctrl("s"), state: &state, editorWidth: 40) == [.save])
        #expect(StudioKeyMap.handle(.ctrl("q"), state: &state, editorWidth: 40) == [.quit])
        #expect(StudioKeyMap.handle(.ctrl("c"), state: &state, editorWidth: 40) == [.quit])
        state.running = false
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
        _ = StudioKeyMap.handle(.down, state: &state, editorWidth: 40)
        _ = StudioKeyMap.handle(.down, state: &state, editorWidth: 40)
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
}
