import ArgumentParser
import Diffusion
import Foundation
import Terminal

/// `stipple generate --preset NAME`.
enum GenerationPreset: String, ExpressibleByArgument, CaseIterable {
    /// `FewStepPreset`: LCM, Turbo or LCM-LoRA settings for the model.
    case fewStep = "few-step"
}

extension Generate {
    /// Sets `preset`'s settings for `model` in `request`, then the options given again (they win);
    /// with `--show` and no `--preview`, the preset's TAESD previews. Says on standard error what
    /// it set.
    func apply(_ preset: GenerationPreset, model: FewStepPreset.Model, to request: inout GenerationRequest) throws {
        let settings = FewStepPreset(model: model, prompt: request.prompt)
        settings.apply(to: &request)
        try applyOptions(to: &request)
        if show, preview == nil, let preview = settings.preview { request.preview = preview }
        // What runs, options given included.
        var parts = [request.sampler.rawValue, "\(request.steps) step\(request.steps == 1 ? "" : "s")",
                     "CFG " + String(format: "%g", request.cfgScale)]
        if let spacing = request.timestepSpacing { parts.append("\(spacing.rawValue) spacing") }
        parts.append("decoder \(request.decoder.rawValue)")
        if request.preview != .off { parts.append("previews \(request.preview.rawValue)") }
        var line = "stipple: few-step preset (\(settings.kind.rawValue)): " + parts.joined(separator: ", ")
        if let note = settings.note { line += "\nstipple: note: \(note)" }
        FileHandle.standardError.write(Data((TerminalText.visible(line, keepingLineBreaks: true) + "\n").utf8))
    }
}
