import Diffusion
import Terminal
import Testing
@testable import Studio

/// The prompt's parse on request (F8): which text applies at which step for the panel's steps,
/// AND parts with their weights, the negative prompt, and a prompt A1111's grammar cannot read.
@Suite struct PromptParseStudioTests {
    @Test func linesSayWhichTextAppliesAtWhichStep() {
        #expect(PromptParseView.lines(prompt: "a [cat:dog:5] on a mat", negative: "blurry", steps: 10) == [
            "Prompt over 10 steps:",
            "  steps 1-6: a cat on a mat",
            "  steps 7-10: a dog on a mat",
            "Negative prompt: the same at every step",
        ])
        #expect(PromptParseView.lines(prompt: "[red|blue] hat AND a [:sunny:0.5] sky:0.5", negative: "[ugly::2]", steps: 4) == [
            "Prompt: 2 AND parts, each against the negative prompt",
            "part 1, weight 1 over 4 steps:",
            "  steps 1-2: red hat",
            "  step 3: blue hat",
            "  step 4: red hat",
            "part 2, weight 0.5 over 4 steps:",
            "  steps 1-3:  a  sky",  // A1111 keeps a part's leading space
            "  step 4:  a sunny sky",
            "Negative prompt over 4 steps:",
            "  steps 1-3: ugly",
            "  step 4: (nothing)",
        ])
        #expect(PromptParseView.lines(prompt: "a | b [c:2]", negative: "", steps: 4) == [
            "Prompt: not read as editing (a '|' at character 3 is outside any [a|b] alternation); used as written, as A1111 does:",
            "  steps 1-4: a | b [c:2]",
            "Negative prompt: the same at every step",
        ])
        #expect(PromptParseView.lines(prompt: "[a|]", negative: "", steps: 4).first
                == "Prompt: prompt: an alternation [a|b] has an empty option, reached at step 2 (write [a|b], every option with text)")
        // Control characters in the prompt are shown escaped.
        let escaped = PromptParseView.lines(prompt: "[x\u{1B}\u{07}\u{9B}:y:1]", negative: "", steps: 2)[1]
        #expect(escaped == "  steps 1-2: " + TerminalText.visible("x\u{1B}\u{07}\u{9B}"))
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
    }

    @Test func f8ShowsTheParseBelowThePromptAndFollowsTheSteps() {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.prompt.insert("a [cat:dog:0.5]")
        state.panel.steps = 8
        _ = StudioKeyMap.handle(.function(8), state: &state, editorWidth: 40)
        #expect(state.showPromptParse && state.focus == .prompt)
        let screen = HeadlessScreen(rows: 30, columns: 100)
        StudioView().draw(state, on: screen)
        #expect(screen.contains("Prompt parse"))
        #expect(screen.contains("steps 1-5: a cat") && screen.contains("steps 6-8: a dog"))
        _ = StudioKeyMap.handle(.function(8), state: &state, editorWidth: 40)
        StudioView().draw(state, on: screen)
        #expect(!screen.contains("Prompt parse") && screen.contains("Negative prompt"))
    }
}
