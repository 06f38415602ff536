import Diffusion
import Terminal

/// The prompt's parse as the studio shows it on request (F8): which text the model is given at
/// which sampling step for the panel's step count, by A1111's rules (`PromptSchedule`,
/// `ComposablePrompt`), the same the engine runs. Steps are counted from 1 as the progress line
/// counts them; step s is denoiser call s - 1 in A1111's convention, so `[a:b:3]` over 10 steps
/// shows `steps 1-4: a` and `steps 5-10: b`. Texts are escaped for the terminal.
public enum PromptParseView {
    /// The most lines one schedule lists (an alternation over many steps is cut with a count).
    public static let maximumRangesShown = 12

    /// The lines of the overlay for `prompt` and `negative` over `steps` steps.
    public static func lines(prompt: String, negative: String, steps: Int) -> [String] {
        var lines: [String] = []
        let composable: ComposablePrompt
        do {
            composable = try ComposablePrompt(prompt)
        } catch {
            return ["Prompt: " + error.description]
        }
        if composable.parts.count == 1 {
            lines += schedule(composable.parts[0].text, steps: steps, title: "Prompt")
        } else {
            lines.append("Prompt: \(composable.parts.count) AND parts, each against the negative prompt")
            for (index, part) in composable.parts.enumerated() {
                lines += schedule(part.text, steps: steps, title: "part \(index + 1), weight \(PromptParseView.number(part.weight))")
            }
        }
        if let constant = try? PromptSchedule(negative, steps: steps), constant.isConstant, constant.unparsedReason == nil {
            lines.append("Negative prompt: the same at every step")
        } else {
            lines += schedule(negative, steps: steps, title: "Negative prompt")
        }
        return lines.map { TerminalText.visible($0) }
    }

    /// One schedule: a title line and one line per run of steps with the same text.
    static func schedule(_ text: String, steps: Int, title: String) -> [String] {
        let schedule: PromptSchedule
        do {
            schedule = try PromptSchedule(text, steps: steps)
        } catch {
            return ["\(title): \(error.description)"]
        }
        var lines = ["\(title) over \(steps) step\(steps == 1 ? "" : "s"):"]
        if let reason = schedule.unparsedReason {
            lines[0] = "\(title): not read as editing (\(reason)); used as written, as A1111 does:"
        }
        var ranges: [(first: Int, last: Int, text: String)] = []
        for step in 1...max(1, steps) {
            let shown = schedule.text(atStep: step - 1)
            if let last = ranges.last, last.text == shown, last.last == step - 1 {
                ranges[ranges.count - 1].last = step
            } else {
                ranges.append((step, step, shown))
            }
        }
        for range in ranges.prefix(maximumRangesShown) {
            let steps = range.first == range.last ? "step \(range.first)" : "steps \(range.first)-\(range.last)"
            lines.append("  \(steps): " + (range.text.isEmpty ? "(nothing)" : range.text))
        }
        if ranges.count > maximumRangesShown { lines.append("  ... \(ranges.count - maximumRangesShown) more") }
        return lines
    }

    /// A weight as A1111 writes numbers: `1`, `0.5`, `-1.25`.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

extension StudioView {
    /// The prompt's parse (F8) in `rect`, one line per row, cut to fit.
    func drawPromptParse(_ state: StudioState, in rect: Rect, on screen: TextScreen) {
        frame(rect, title: "Prompt parse \u{00B7} A1111's steps \u{00B7} F8 close", focused: false, on: screen)
        let inner = rect.inner
        guard inner.rows > 0, inner.columns > 0 else { return }
        let lines = PromptParseView.lines(prompt: state.prompt.text, negative: state.negative.text, steps: state.panel.steps)
        for (offset, line) in lines.prefix(inner.rows).enumerated() {
            screen.put(line, row: inner.row + offset, column: inner.column, style: CellStyle(.text), width: inner.columns)
        }
    }
}
