import Diffusion
import FuzzSupport

// A1111's prompt emphasis syntax: (a:1.2), [a], ((a)), \( escapes, BREAK; its prompt editing,
// alternation and AND (PromptSchedule, ComposablePrompt); a styles.csv.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = inputString(data, size)
    _ = try? PromptSyntax.parse(text)
    // A1111's extra-network tags (<lora:NAME:W>), taken out before the syntax above is parsed.
    _ = ExtraNetworkTags(parsing: text)
    // The step count from the first byte (1...256), the schedule and every step's text.
    let steps = size > 0 ? Int(data![0]) + 1 : 20
    if let schedule = try? PromptSchedule(text, steps: steps) {
        for step in 0...steps + 1 { _ = schedule.text(atStep: step) }
    }
    if let composable = try? ComposablePrompt(text) {
        for part in composable.parts { _ = try? PromptSchedule(part.text, steps: steps) }
    }
    if let styles = try? PromptStyles(csv: text), let first = styles.styles.first {
        _ = try? styles.apply([first.name], prompt: text, negative: text)
    }
    return 0
}
